using System.Net;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Moq;
using WStunnel.Protocol.Transports;
using WStunnel.Server.Endpoints;
using WStunnel.Server.Registry;
using WStunnel.Server.Security;

namespace WStunnel.Server.Tests.Endpoints;

public sealed class AgentAdmissionTests
{
    private readonly WStunnelOptions _options = new();

    [Fact]
    public async Task A_stopping_gateway_refuses_new_agents_with_503_and_Retry_After()
    {
        using var stopping = new CancellationTokenSource();
        await stopping.CancelAsync();
        var context = Registration("agent-token-0123456789");

        Assert.Null(await Admission(stopping.Token).AdmitAsync(context));

        Assert.Equal(StatusCodes.Status503ServiceUnavailable, context.Response.StatusCode);
        Assert.Equal("5", context.Response.Headers.RetryAfter.ToString());
    }

    [Fact]
    public async Task A_running_gateway_admits_an_agent_with_a_well_formed_token()
    {
        var context = Registration("agent-token-0123456789");

        var tunnel = await Admission(CancellationToken.None).AdmitAsync(context);

        Assert.NotNull(tunnel);
        Assert.Equal(StatusCodes.Status200OK, context.Response.StatusCode);
    }

    private AgentAdmission Admission(CancellationToken stopping)
    {
        var lifetime = new Mock<IHostApplicationLifetime>();
        lifetime.SetupGet(l => l.ApplicationStopping).Returns(stopping);
        var options = Options.Create(_options);
        return new AgentAdmission(new TunnelRegistry(options, TimeProvider.System), new ClientRateLimiter(options), new AgentCertificateValidator(options),
            options, lifetime.Object, NullLogger<AgentAdmission>.Instance);
    }

    private static DefaultHttpContext Registration(string token)
    {
        var context = new DefaultHttpContext();
        context.Request.Headers[AgentHeaders.Token] = token;
        context.Connection.RemoteIpAddress = IPAddress.Loopback;
        context.Response.Body = new MemoryStream();
        return context;
    }
}
