using System.Collections.Concurrent;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace WStunnel.EndToEnd.Tests.Infrastructure;

/// <summary>The hidden server: a real Kestrel on 127.0.0.1 with endpoints that show what arrived.</summary>
internal sealed class Backend : IAsyncDisposable
{
    private readonly WebApplication _app;

    private Backend(WebApplication app) => _app = app;

    public Uri Address { get; private set; } = null!;

    /// <summary>The same endpoints over cleartext HTTP/2 (prior knowledge), which carries trailers.</summary>
    public Uri Http2Address { get; private set; } = null!;

    /// <summary>Requests that ended because the client went away, by id.</summary>
    public ConcurrentDictionary<string, TaskCompletionSource> Aborted { get; } = new();

    /// <summary>Gates the server-sent events endpoint: the next event is written only once released.</summary>
    public ConcurrentDictionary<string, SemaphoreSlim> EventGates { get; } = new();

    public int Hits;

    /// <summary>The request target each <c>/ws/echo/{id}</c> WebSocket arrived with, by id.</summary>
    public ConcurrentDictionary<string, string> WebSocketTargets { get; } = new();

    /// <summary>How often each <c>/count/{id}</c> was served: exactly-once checks.</summary>
    public ConcurrentDictionary<string, int> Counts { get; } = new();

    public static async Task<Backend> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Configuration.Sources.Clear();
        builder.Configuration.AddInMemoryCollection();
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.Limits.MaxRequestBodySize = null;
            k.Listen(System.Net.IPAddress.Loopback, 0);
            k.Listen(System.Net.IPAddress.Loopback, 0, listen => listen.Protocols = Microsoft.AspNetCore.Server.Kestrel.Core.HttpProtocols.Http2);
        });
        builder.Logging.ClearProviders();
        var app = builder.Build();
        var backend = new Backend(app);
        backend.Map(app);
        await app.StartAsync();
        var addresses = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.ToArray();
        backend.Address = new Uri(addresses[0]);
        backend.Http2Address = new Uri(addresses[1]);
        return backend;
    }

    private void Map(WebApplication app)
    {
        app.Use(async (context, next) =>
        {
            Interlocked.Increment(ref Hits);
            await next(context);
        });
        app.UseWebSockets();

        app.Map("/ws/echo/{id}", async (HttpContext context, string id) =>
        {
            // Echoes every message, frame by frame, until the client closes; notes a client that vanished.
            if (!context.WebSockets.IsWebSocketRequest)
            {
                context.Response.StatusCode = StatusCodes.Status426UpgradeRequired;
                await context.Response.WriteAsync("this endpoint speaks WebSocket only");
                return;
            }

            WebSocketTargets[id] = context.Features.Get<IHttpRequestFeature>()!.RawTarget;
            using var socket = await context.WebSockets.AcceptWebSocketAsync();
            var buffer = new byte[16 * 1024];
            try
            {
                while (true)
                {
                    var received = await socket.ReceiveAsync(buffer, context.RequestAborted);
                    if (received.MessageType == System.Net.WebSockets.WebSocketMessageType.Close)
                    {
                        await socket.CloseOutputAsync(received.CloseStatus!.Value, received.CloseStatusDescription, context.RequestAborted);
                        return;
                    }

                    await socket.SendAsync(buffer.AsMemory(0, received.Count), received.MessageType, received.EndOfMessage, context.RequestAborted);
                }
            }
            catch (Exception ex) when (ex is System.Net.WebSockets.WebSocketException or OperationCanceledException or IOException)
            {
                Aborted.GetOrAdd(id, _ => new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();
            }
        });

        app.Map("/ws/goodbye", async (HttpContext context) =>
        {
            // Speaks first, then closes the connection itself.
            using var socket = await context.WebSockets.AcceptWebSocketAsync();
            await socket.SendAsync("goodbye"u8.ToArray(), System.Net.WebSockets.WebSocketMessageType.Text, endOfMessage: true, context.RequestAborted);
            await socket.CloseAsync((System.Net.WebSockets.WebSocketCloseStatus)4001, "done here", context.RequestAborted);
        });

        app.Map("/echo/{**rest}", async (HttpContext context) =>
        {
            var request = context.Request;
            var body = await new StreamReader(request.Body).ReadToEndAsync();
            var text = new StringBuilder()
                .Append("method=").AppendLine(request.Method)
                .Append("target=").AppendLine(context.Features.Get<IHttpRequestFeature>()!.RawTarget)
                .Append("host=").AppendLine(request.Host.Value)
                .Append("body=").AppendLine(body);
            foreach (var (name, values) in request.Headers)
            {
                foreach (var value in values)
                {
                    text.Append("header:").Append(name.ToLowerInvariant()).Append('=').AppendLine(value);
                }
            }

            context.Response.Headers["X-Echo"] = "yes";
            context.Response.Headers.Append("X-Repeated", "one");
            context.Response.Headers.Append("X-Repeated", "two");
            await context.Response.WriteAsync(text.ToString());
        });

        app.Map("/status/{code:int}", async (HttpContext context, int code) =>
        {
            context.Response.StatusCode = code;
            if (code is not (204 or 304))
            {
                await context.Response.WriteAsync($"status {code}");
            }
        });

        app.MapMethods("/bytes/{count:long}", ["GET", "HEAD"], async (HttpContext context, long count) =>
        {
            if (!context.Request.Query.ContainsKey("chunked"))
            {
                context.Response.ContentLength = count;
            }

            var buffer = new byte[64 * 1024];
            for (long sent = 0; sent < count;)
            {
                var n = (int)Math.Min(buffer.Length, count - sent);
                FillPattern(buffer.AsSpan(0, n), sent);
                await context.Response.Body.WriteAsync(buffer.AsMemory(0, n), context.RequestAborted);
                sent += n;
            }
        });

        app.MapPost("/upload", async (HttpContext context) =>
        {
            using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            var buffer = new byte[64 * 1024];
            long total = 0;
            int read;
            while ((read = await context.Request.Body.ReadAsync(buffer, context.RequestAborted)) > 0)
            {
                hash.AppendData(buffer, 0, read);
                total += read;
            }

            await context.Response.WriteAsync($"{total} {Convert.ToHexStringLower(hash.GetHashAndReset())}");
        });

        app.MapPost("/refuse-upload", async (HttpContext context) =>
        {
            // Answers before reading a byte of the body, as an endpoint that checks credentials or quota first.
            context.Response.StatusCode = StatusCodes.Status401Unauthorized;
            await context.Response.WriteAsync("sign in first");
        });

        app.MapPost("/abort-upload", async (HttpContext context) =>
        {
            // Reads a little of the body, then drops the connection: the agent's call fails mid-upload.
            await context.Request.Body.ReadExactlyAsync(new byte[1024], context.RequestAborted);
            context.Abort();
        });

        app.MapGet("/sse/{id}", async (HttpContext context, string id) =>
        {
            var gate = EventGates.GetOrAdd(id, _ => new SemaphoreSlim(0));
            context.Response.ContentType = "text/event-stream";
            for (var i = 1; i <= 3; i++)
            {
                await context.Response.WriteAsync($"data: event {i}\n\n", context.RequestAborted);
                await context.Response.Body.FlushAsync(context.RequestAborted);
                if (i < 3)
                {
                    await gate.WaitAsync(context.RequestAborted);
                }
            }
        });

        app.MapGet("/trailers", async (HttpContext context) =>
        {
            if (!context.Response.SupportsTrailers())
            {
                context.Response.StatusCode = 505;
                await context.Response.WriteAsync("this listener cannot send trailers");
                return;
            }

            context.Response.DeclareTrailer("x-checksum");
            await context.Response.WriteAsync("body before trailers");
            context.Response.AppendTrailer("x-checksum", "abc123");
            context.Response.AppendTrailer("grpc-status", "0");
        });

        app.MapGet("/connection-named", (HttpContext context) =>
        {
            context.Response.Headers.Connection = "X-Private";
            context.Response.Headers["X-Private"] = "for the next hop only";
            context.Response.Headers["X-Public"] = "for everyone";
            return context.Response.WriteAsync("ok");
        });

        app.MapGet("/big-headers/{bytes:int}", (HttpContext context, int bytes) =>
        {
            context.Response.Headers["X-Big"] = new string('h', bytes);
            return context.Response.WriteAsync("ok");
        });

        app.MapMethods("/count/{id}", ["GET", "POST"], async (HttpContext context, string id) =>
        {
            var body = await new StreamReader(context.Request.Body).ReadToEndAsync();
            Counts.AddOrUpdate(id, 1, (_, n) => n + 1);
            return $"counted {id} {body.Length}";
        });

        app.MapGet("/redirect", (HttpContext context) =>
        {
            context.Response.StatusCode = 302;
            context.Response.Headers.Location = "/somewhere/else?x=1";
            return Task.CompletedTask;
        });

        app.MapGet("/delay/{ms:int}", async (int ms) =>
        {
            await Task.Delay(ms);
            return Results.Text($"done {ms}");
        });

        app.MapGet("/silent/{id}", async (HttpContext context, string id) =>
        {
            // Never answers: not even a response head.
            var aborted = Aborted.GetOrAdd(id, _ => new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));
            try
            {
                await Task.Delay(Timeout.Infinite, context.RequestAborted);
            }
            catch (OperationCanceledException)
            {
                aborted.TrySetResult();
            }
        });

        app.MapGet("/hang/{id}", async (HttpContext context, string id) =>
        {
            var aborted = Aborted.GetOrAdd(id, _ => new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));
            await context.Response.WriteAsync("started\n");
            await context.Response.Body.FlushAsync();
            try
            {
                await Task.Delay(Timeout.Infinite, context.RequestAborted);
            }
            catch (OperationCanceledException)
            {
                aborted.TrySetResult();
            }
        });
    }

    /// <summary>The deterministic bytes <c>/bytes/N</c> serves, so a test can hash what it expects.</summary>
    public static void FillPattern(Span<byte> destination, long offset)
    {
        for (var i = 0; i < destination.Length; i++)
        {
            var position = offset + i;
            destination[i] = (byte)((position * 31) ^ (position >> 8));
        }
    }

    public static string ExpectedHash(long count)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var buffer = new byte[64 * 1024];
        for (long offset = 0; offset < count;)
        {
            var n = (int)Math.Min(buffer.Length, count - offset);
            FillPattern(buffer.AsSpan(0, n), offset);
            hash.AppendData(buffer, 0, n);
            offset += n;
        }

        return Convert.ToHexStringLower(hash.GetHashAndReset());
    }

    public static string Format(long value) => value.ToString(CultureInfo.InvariantCulture);

    public async ValueTask DisposeAsync() => await _app.DisposeAsync();
}
