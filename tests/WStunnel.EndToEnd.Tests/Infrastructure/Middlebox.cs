using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Yarp.ReverseProxy.Forwarder;

namespace WStunnel.EndToEnd.Tests.Infrastructure;

/// <summary>
/// An HTTPS intermediary between agent and gateway, like a corporate TLS-inspecting proxy: it
/// forwards plain requests and can refuse WebSocket upgrades, or lose answers after the gateway
/// gave them (the request reached the gateway, the agent never hears back).
/// </summary>
internal sealed class Middlebox : IAsyncDisposable
{
    private readonly WebApplication _app;
    private int _dropped;
    private long _droppedBytes;

    private Middlebox(WebApplication app) => _app = app;

    public Uri Address { get; private set; } = null!;

    /// <summary>Whether WebSocket upgrades are refused; may change while agents are connected.</summary>
    public bool BlockWebSockets { get; set; }

    /// <summary>Whether WebSocket upgrades are accepted here and then carry nothing, like a buffering middlebox.</summary>
    public bool StallWebSockets { get; set; }

    /// <summary>Answers lost on purpose, and the response bytes they carried.</summary>
    public int Dropped => Volatile.Read(ref _dropped);

    public long DroppedBytes => Interlocked.Read(ref _droppedBytes);

    public static async Task<Middlebox> StartAsync(TestCertificate certificate, Uri gateway, bool blockWebSockets, Func<HttpContext, bool>? loseAnswer = null)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Configuration.Sources.Clear();
        builder.Configuration.AddInMemoryCollection();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => k.Listen(System.Net.IPAddress.Loopback, 0, l => l.UseHttps(certificate.Server)));
        builder.Services.AddHttpForwarder();
        var app = builder.Build();
        var middlebox = new Middlebox(app) { BlockWebSockets = blockWebSockets };

        app.UseWebSockets();
        app.Use(async (context, next) =>
        {
            if (middlebox.StallWebSockets && context.WebSockets.IsWebSocketRequest)
            {
                using var stalled = await context.WebSockets.AcceptWebSocketAsync("wstunnel.v1");
                await Task.Delay(Timeout.Infinite, context.RequestAborted).ContinueWith(_ => { }, TaskScheduler.Default);
                return;
            }

            if (middlebox.BlockWebSockets && context.Request.Headers.Upgrade.Count > 0)
            {
                context.Response.StatusCode = StatusCodes.Status403Forbidden;
                await context.Response.WriteAsync("WebSockets are not allowed through this proxy.");
                return;
            }

            if (loseAnswer?.Invoke(context) != true)
            {
                await next(context);
                return;
            }

            // Let the gateway answer in full, then cut the agent's connection instead of passing it on.
            var sink = new CountingSink();
            context.Response.Body = sink;
            await next(context);
            Interlocked.Increment(ref middlebox._dropped);
            Interlocked.Add(ref middlebox._droppedBytes, sink.Count);
            context.Abort();
        });

        var client = new HttpMessageInvoker(new SocketsHttpHandler
        {
            UseProxy = false,
            AllowAutoRedirect = false,
            UseCookies = false,
            SslOptions = { RemoteCertificateValidationCallback = (_, presented, _, _) => presented?.GetCertHashString() == certificate.Server.GetCertHashString() },
        });
        app.MapForwarder("/{**catch-all}", gateway.ToString(), ForwarderRequestConfig.Empty, HttpTransformer.Empty, client);
        await app.StartAsync();
        middlebox.Address = new Uri(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First().Replace("127.0.0.1", "localhost", StringComparison.Ordinal));
        return middlebox;
    }

    public async ValueTask DisposeAsync() => await _app.DisposeAsync();

    private sealed class CountingSink : Stream
    {
        public long Count;

        public override bool CanRead => false;

        public override bool CanSeek => false;

        public override bool CanWrite => true;

        public override long Length => Count;

        public override long Position { get => Count; set => throw new NotSupportedException(); }

        public override void Flush()
        {
        }

        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => Count += count;

        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            Count += buffer.Length;
            return ValueTask.CompletedTask;
        }
    }
}
