using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using WStunnel.EndToEnd.Tests.Infrastructure;

namespace WStunnel.EndToEnd.Tests;

/// <summary>An agent whose target listens on a Unix domain socket (<c>--target unix:/run/app.sock</c>), as application servers behind a local web server often do.</summary>
public sealed class UnixSocketTargetTests(TunnelFixture fixture) : IClassFixture<TunnelFixture>
{
    [Theory]
    [InlineData(false)]
    [InlineData(true)] // --target-http2: cleartext HTTP/2 over the socket
    public async Task Requests_reach_a_target_on_a_unix_socket_with_their_path_host_and_body(bool http2)
    {
        using var directory = new TemporaryDirectory();
        var socket = Path.Combine(directory.Path, "app.sock");
        await using var target = await StartSocketServerAsync(socket, http2);
        var token = "unix-target-" + Guid.NewGuid().ToString("N");
        await using var agent = await RunningAgent.StartAsync(fixture.AgentServerUri, token, new Uri("unix:" + socket), fixture.Certificate.CaFile, o => o.TargetHttp2 = http2);

        using var response = await fixture.Client.PostAsync($"/_token/{token}/upload/a%20b?x=1", new StringContent("hello over the socket"));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var text = await response.Content.ReadAsStringAsync();
        Assert.Contains("path=/upload/a%20b?x=1\n", text, StringComparison.Ordinal);
        Assert.Contains("host=localhost\n", text, StringComparison.Ordinal); // as curl --unix-socket sends it, not the name the agent pools it under
        Assert.Contains("body=hello over the socket\n", text, StringComparison.Ordinal);
        Assert.Contains(http2 ? "protocol=HTTP/2\n" : "protocol=HTTP/1.1\n", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_socket_nobody_listens_on_gets_502_and_a_log_line_naming_it()
    {
        using var directory = new TemporaryDirectory();
        var socket = Path.Combine(directory.Path, "missing.sock");
        var token = "unix-missing-" + Guid.NewGuid().ToString("N");
        var log = new ListLogger();
        await using var agent = await RunningAgent.StartAsync(fixture.AgentServerUri, token, new Uri("unix:" + socket), fixture.Certificate.CaFile, configure: null, logger: log);

        using var response = await fixture.Client.GetAsync($"/_token/{token}/anything");

        Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
        Assert.Equal("The tunnel agent could not connect to its target.\n", await response.Content.ReadAsStringAsync());
        Assert.Contains("unix:" + socket, await log.WaitForAsync("failed for GET request"), StringComparison.Ordinal);
    }

    private static async Task<WebApplication> StartSocketServerAsync(string socket, bool http2 = false)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.ListenUnixSocket(socket, listen =>
            listen.Protocols = http2 ? Microsoft.AspNetCore.Server.Kestrel.Core.HttpProtocols.Http2 : Microsoft.AspNetCore.Server.Kestrel.Core.HttpProtocols.Http1));
        var app = builder.Build();
        app.Run(async context =>
        {
            using var reader = new StreamReader(context.Request.Body);
            var body = await reader.ReadToEndAsync(context.RequestAborted);
            await context.Response.WriteAsync(
                $"path={context.Request.Path.ToUriComponent()}{context.Request.QueryString}\nhost={context.Request.Host}\nbody={body}\nprotocol={context.Request.Protocol}\n",
                context.RequestAborted);
        });
        await app.StartAsync();
        return app;
    }
}
