using System.Diagnostics;
using System.Net.WebSockets;
using System.Security.Cryptography;

namespace WStunnel.Bench.Harness;

/// <summary>What one client WebSocket through a path to the backend's echo measured.</summary>
internal sealed record WebSocketEchoResult(double P50Ms, double P99Ms, double MegabytesPerSecond);

/// <summary>
/// One client WebSocket through a path to the backend's <c>/ws</c> echo: small messages one at a
/// time for <c>duration</c> (round-trip latency), then <c>bytes</c> in 64 KiB messages sent while the
/// echo comes back (throughput each way), hash-checked.
/// </summary>
internal static class WebSocketEcho
{
    public static async Task<WebSocketEchoResult> RunAsync(Uri url, string? token, string caFile, TimeSpan duration, long bytes)
    {
        using var invoker = new HttpMessageInvoker(new SocketsHttpHandler { SslOptions = { CertificateChainPolicy = BenchCertificate.TrustOnly(caFile) } });
        using var socket = new ClientWebSocket();
        if (token is not null)
        {
            socket.Options.SetRequestHeader("X-Token", token);
        }

        await socket.ConnectAsync(new UriBuilder(url) { Scheme = Uri.UriSchemeWss }.Uri, invoker, CancellationToken.None).ConfigureAwait(false);
        var receive = new byte[128 * 1024];

        var small = Pattern.Block[..32];
        var latencies = new List<double>();
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < duration)
        {
            var started = Stopwatch.GetTimestamp();
            await socket.SendAsync(small, WebSocketMessageType.Binary, endOfMessage: true, CancellationToken.None).ConfigureAwait(false);
            if (await ReceiveMessageAsync(socket, receive, null).ConfigureAwait(false) != small.Length)
            {
                throw new InvalidOperationException($"the WebSocket echo through {url} lost bytes");
            }

            latencies.Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
        }

        latencies.Sort();

        var messages = (int)Math.Max(1, bytes / Pattern.BlockSize);
        using var sent = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        using var echoed = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        clock.Restart();
        var receiving = Task.Run(async () =>
        {
            for (var i = 0; i < messages; i++)
            {
                await ReceiveMessageAsync(socket, receive, echoed).ConfigureAwait(false);
            }
        });
        for (var i = 0; i < messages; i++)
        {
            sent.AppendData(Pattern.Block.Span);
            await socket.SendAsync(Pattern.Block, WebSocketMessageType.Binary, endOfMessage: true, CancellationToken.None).ConfigureAwait(false);
        }

        await receiving.ConfigureAwait(false);
        var seconds = clock.Elapsed.TotalSeconds;
        if (!sent.GetHashAndReset().AsSpan().SequenceEqual(echoed.GetHashAndReset()))
        {
            throw new InvalidOperationException($"the WebSocket echo through {url} came back different");
        }

        await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None).ConfigureAwait(false);
        return new WebSocketEchoResult(latencies[latencies.Count / 2], latencies[(int)(latencies.Count * 0.99)], messages * (double)Pattern.BlockSize / (1024 * 1024) / seconds);
    }

    /// <summary>Receives one whole message; returns its length.</summary>
    private static async Task<int> ReceiveMessageAsync(WebSocket socket, byte[] buffer, IncrementalHash? hash)
    {
        var length = 0;
        while (true)
        {
            var received = await socket.ReceiveAsync(buffer, CancellationToken.None).ConfigureAwait(false);
            if (received.MessageType == WebSocketMessageType.Close)
            {
                throw new InvalidOperationException("the WebSocket echo closed early");
            }

            hash?.AppendData(buffer, 0, received.Count);
            length += received.Count;
            if (received.EndOfMessage)
            {
                return length;
            }
        }
    }
}
