using System.Net;
using System.Net.Sockets;
using System.Text;

namespace WStunnel.Agent.Tests;

/// <summary>
/// A plain-HTTP stand-in for a gateway on loopback that answers every request — a WebSocket upgrade or
/// a long-poll connection — with one fixed refusal (status, Retry-After, body), and counts the requests it got.
/// </summary>
internal sealed class RefusingGateway : IAsyncDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly byte[] _answer;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _accepting;
    private int _requests;

    public RefusingGateway(int status, string? retryAfter, string body = "", string contentType = "text/plain; charset=utf-8", string? location = null)
    {
        var content = Encoding.UTF8.GetBytes(body);
        _answer = [.. Encoding.ASCII.GetBytes(
            $"HTTP/1.1 {status} Refused\r\n{(retryAfter is null ? "" : $"Retry-After: {retryAfter}\r\n")}{(location is null ? "" : $"Location: {location}\r\n")}"
            + $"Content-Type: {contentType}\r\nContent-Length: {content.Length}\r\nConnection: close\r\n\r\n"), .. content];
        _listener.Start();
        _accepting = AcceptAsync();
    }

    public Uri Server => new($"ws://127.0.0.1:{((IPEndPoint)_listener.LocalEndpoint).Port}");

    public int Requests => Volatile.Read(ref _requests);

    private async Task AcceptAsync()
    {
        try
        {
            while (true)
            {
                var client = await _listener.AcceptTcpClientAsync(_stop.Token);
                _ = AnswerAsync(client);
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException
            || (ex is InvalidOperationException && _stop.IsCancellationRequested))
        {
            // Stopped: a listener stopped between two accepts says "not listening" at the next.
        }
    }

    private async Task AnswerAsync(TcpClient client)
    {
        using (client)
        {
            try
            {
                var stream = client.GetStream();
                var head = new StringBuilder();
                var buffer = new byte[4096];
                while (!head.ToString().Contains("\r\n\r\n", StringComparison.Ordinal))
                {
                    var read = await stream.ReadAsync(buffer, _stop.Token);
                    if (read == 0)
                    {
                        return;
                    }

                    head.Append(Encoding.ASCII.GetString(buffer, 0, read));
                }

                Interlocked.Increment(ref _requests);
                await stream.WriteAsync(_answer, _stop.Token);
            }
            catch (Exception ex) when (ex is IOException or OperationCanceledException)
            {
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        await _accepting;
        _stop.Dispose();
    }
}
