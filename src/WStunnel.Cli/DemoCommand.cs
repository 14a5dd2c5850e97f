using System.CommandLine;
using System.Net;
using System.Security.Cryptography;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using WStunnel.Agent;
using WStunnel.Cli.Certificates;

namespace WStunnel.Cli;

/// <summary>
/// <c>wstunnel demo</c>: a gateway, an agent and a small backend on loopback, with real TLS; it sends
/// one request through the tunnel and prints curl commands that do the same.
/// </summary>
internal static class DemoCommand
{
    public static Command Create()
    {
        var once = new Option<bool>("--once") { Description = "Exit after the first request went through (for scripts)." };
        var transport = new Option<AgentTransport>("--transport") { Description = "How the demo agent reaches the gateway.", DefaultValueFactory = _ => AgentTransport.Auto };
        var command = new Command("demo", "Run a demo tunnel on loopback: gateway, agent and backend in one process.") { once, transport };
        command.SetAction((result, cancellationToken) => RunAsync(result.GetValue(once), Console.Out, cancellationToken, result.GetValue(transport)));
        return command;
    }

    public static async Task<int> RunAsync(bool once, TextWriter output, CancellationToken cancellationToken, AgentTransport transport = AgentTransport.Auto)
    {
        using var certificate = DemoCertificate.Create();
        var directory = Directory.CreateTempSubdirectory("wstunnel-demo-");
        var caFile = Path.Combine(directory.FullName, "gateway-ca.pem");
        await File.WriteAllTextAsync(caFile, certificate.ExportCertificatePem(), cancellationToken).ConfigureAwait(false);
        var token = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16));

        await using var backend = BuildBackend();
        await backend.StartAsync(cancellationToken).ConfigureAwait(false);
        var backendUrl = Address(backend);

        await using var gateway = GatewayApp.Build(["--urls", "https://127.0.0.1:0", "--Logging:LogLevel:Default", "Warning", "--Logging:LogLevel:WStunnel", "Information", "--Logging:LogLevel:Microsoft.AspNetCore.DataProtection", "Error"], null, ServerCertificate.Fixed(certificate),
            builder => builder.Services.AddSingleton<IHostLifetime, EmbeddedHostLifetime>());
        await gateway.StartAsync(cancellationToken).ConfigureAwait(false);
        var gatewayUrl = Address(gateway).Replace("127.0.0.1", "localhost", StringComparison.Ordinal);

        using var loggers = LoggerFactory.Create(logging => logging.AddSimpleConsole(console => console.SingleLine = true).SetMinimumLevel(LogLevel.Information));
        using var agent = new TunnelAgent(new WStunnelAgentOptions
        {
            Server = new Uri(gatewayUrl.Replace("https://", "wss://", StringComparison.Ordinal)),
            Token = token,
            Target = new Uri(backendUrl),
            CaCertificateFile = caFile,
            Transport = transport,
        }, loggers.CreateLogger("WStunnel.Agent"));
        var connected = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        agent.Connected += _ => connected.TrySetResult();
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var agentRun = agent.RunAsync(stop.Token);

        try
        {
            await connected.Task.WaitAsync(TimeSpan.FromSeconds(30), cancellationToken).ConfigureAwait(false);
            var url = $"{gatewayUrl}/_token/{token}/hello?from=demo";
            using var client = new HttpClient(new SocketsHttpHandler
            {
                SslOptions = { RemoteCertificateValidationCallback = (_, presented, _, _) => presented is not null && presented.GetCertHashString() == certificate.GetCertHashString() },
            });
            var answer = await client.GetStringAsync(new Uri(url), cancellationToken).ConfigureAwait(false);

            await output.WriteLineAsync($"""

                WStunnel demo: gateway {gatewayUrl}, agent connected, backend {backendUrl}

                A request through the tunnel (GET {url}) answered:
                  {answer.TrimEnd()}

                Try it yourself (the gateway's certificate is in {caFile}):
                  curl --cacert {caFile} '{url}'
                  curl --cacert {caFile} -H 'X-Token: {token}' {gatewayUrl}/hello
                  curl --cacert {caFile} -s {gatewayUrl}/_token/{token}/bytes/104857600 | sha256sum   # 100 MB, streamed
                  curl --cacert {caFile} {gatewayUrl}/_health_check
                """).ConfigureAwait(false);

            if (!once)
            {
                await output.WriteLineAsync("Press Ctrl+C to stop.").ConfigureAwait(false);
                await Task.Delay(Timeout.Infinite, cancellationToken).ConfigureAwait(false);
            }

            return CliExitCodes.Success;
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            return CliExitCodes.Success;
        }
        catch (Exception ex) when (ex is TimeoutException or HttpRequestException)
        {
            await Console.Error.WriteLineAsync($"The demo request did not go through: {ex.Message}").ConfigureAwait(false);
            return CliExitCodes.Failure;
        }
        finally
        {
            await stop.CancelAsync().ConfigureAwait(false);
            await agentRun.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            directory.Delete(recursive: true);
        }
    }

    private static WebApplication BuildBackend()
    {
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = Hosting.WorkingDirectoryWatch.Off([]) });
        builder.Configuration.Sources.Clear(); // the demo is self-contained: no appsettings.json from the working directory
        builder.Configuration.AddInMemoryCollection();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.Services.AddSingleton<IHostLifetime, EmbeddedHostLifetime>();
        var app = builder.Build();
        app.MapGet("/bytes/{count:long}", async (HttpContext context, long count) =>
        {
            // A body of any size, generated as it is sent: nothing holds it whole.
            context.Response.ContentType = "application/octet-stream";
            context.Response.ContentLength = count;
            var chunk = new byte[64 * 1024];
            for (long sent = 0; sent < count; sent += chunk.Length)
            {
                await context.Response.Body.WriteAsync(chunk.AsMemory(0, (int)Math.Min(chunk.Length, count - sent)), context.RequestAborted);
            }
        });
        app.MapGet("/{**path}", (HttpRequest request) =>
            $"Hello from the backend behind the tunnel! You asked for {request.Method} {request.Path}{request.QueryString}\n");
        return app;
    }

    private static string Address(WebApplication app) =>
        app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
}
