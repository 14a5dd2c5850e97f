using System.Security.Cryptography;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using WStunnel.Bench.Harness;

namespace WStunnel.Bench.Hosts;

/// <summary>The fast backend every path ends at: plain HTTP on loopback, bodies from memory.</summary>
internal static class BenchBackend
{
    public static async Task<int> RunAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.Logging.AddFilter("Microsoft.Hosting.Lifetime", LogLevel.Information);
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.WebHost.ConfigureKestrel(k => k.Limits.MaxRequestBodySize = null);
        var app = builder.Build();

        app.UseWebSockets();
        app.Map("/ws", async (HttpContext context) =>
        {
            // Echoes every message, frame by frame, until the client closes.
            using var socket = await context.WebSockets.AcceptWebSocketAsync();
            var buffer = new byte[64 * 1024];
            while (true)
            {
                var received = await socket.ReceiveAsync(buffer, context.RequestAborted);
                if (received.MessageType == System.Net.WebSockets.WebSocketMessageType.Close)
                {
                    await socket.CloseOutputAsync(System.Net.WebSockets.WebSocketCloseStatus.NormalClosure, null, context.RequestAborted);
                    return;
                }

                await socket.SendAsync(buffer.AsMemory(0, received.Count), received.MessageType, received.EndOfMessage, context.RequestAborted);
            }
        });
        app.MapGet("/small", () => "Hello, tunnel!");
        app.MapGet("/bytes/{length:long}", async (HttpContext context, long length) =>
        {
            context.Response.ContentLength = length;
            context.Response.ContentType = "application/octet-stream";
            for (long sent = 0; sent < length; sent += Pattern.BlockSize)
            {
                await context.Response.Body.WriteAsync(Pattern.Block[..(int)Math.Min(Pattern.BlockSize, length - sent)], context.RequestAborted);
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

            return $"{total} {Convert.ToHexStringLower(hash.GetHashAndReset())}";
        });

        await app.RunAsync();
        return 0;
    }
}
