using System.Net;
using System.Net.Sockets;

namespace WStunnel.EndToEnd.Tests.Infrastructure;

/// <summary>
/// A TCP relay on 127.0.0.1 between agent and gateway that misbehaves on command: pass, delay,
/// throttle, black-hole (sockets stay open, nothing is forwarded), reset, or cut after N bytes.
/// TLS passes through untouched, so the agent still verifies the gateway.
/// </summary>
internal sealed class FaultRelay : IAsyncDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly int _targetPort;
    private readonly CancellationTokenSource _stop = new();
    private readonly List<Link> _links = [];
    private readonly Task _accepting;
    private int _linksAccepted;

    private FaultRelay(int targetPort)
    {
        _targetPort = targetPort;
        _listener.Start();
        _accepting = AcceptAsync();
    }

    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

    /// <summary>Added to every forwarded chunk.</summary>
    public TimeSpan Delay { get; set; }

    /// <summary>Bytes per second per direction and link; 0 for no limit.</summary>
    public int BytesPerSecond { get; set; }

    /// <summary>Links opened from now on are cut (reset) after this many bytes towards the agent; 0 for never.</summary>
    public long CutAfterBytes { get; set; }

    /// <summary>Connections relayed so far (refused ones not counted).</summary>
    public int LinksAccepted => Volatile.Read(ref _linksAccepted);

    /// <summary>The TLS records of the newest link towards the agent (the gateway's writes), as the relay forwarded them.</summary>
    public TlsRecordMeter TowardsAgentRecords { get; private set; } = new();

    /// <summary>New connections are reset at once, like a host that went away.</summary>
    public bool RefuseNewLinks { get; set; }

    public static FaultRelay Start(int targetPort) => new(targetPort);

    /// <summary>Links open now stop forwarding in both directions; their sockets stay open. New links pass.</summary>
    public void BlackHoleOpenLinks()
    {
        lock (_links)
        {
            foreach (var link in _links)
            {
                link.BlackHoled = true;
            }
        }
    }

    /// <summary>Resets every open link (TCP RST towards both ends).</summary>
    public void ResetOpenLinks()
    {
        lock (_links)
        {
            foreach (var link in _links)
            {
                link.Reset();
            }

            _links.Clear();
        }
    }

    /// <summary>Resets every open link and waits until the agent has dialled a new one.</summary>
    public async Task ResetAndWaitForNewLinkAsync()
    {
        var links = LinksAccepted;
        ResetOpenLinks();
        await Eventually.WaitUntil(() => LinksAccepted > links, "the agent to dial again");
    }

    private async Task AcceptAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket client;
            try
            {
                client = await _listener.AcceptSocketAsync(_stop.Token);
            }
            catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException
                || (ex is InvalidOperationException && _stop.IsCancellationRequested))
            {
                return; // a listener stopped between two accepts says "not listening" at the next
            }

            if (RefuseNewLinks)
            {
                client.LingerState = new LingerOption(true, 0);
                client.Close();
                continue;
            }

            var server = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            try
            {
                await server.ConnectAsync(IPAddress.Loopback, _targetPort, _stop.Token);
            }
            catch (Exception ex) when (ex is OperationCanceledException or SocketException)
            {
                client.Dispose();
                server.Dispose();
                continue;
            }

            var link = new Link(client, server) { CutAfter = CutAfterBytes };
            TowardsAgentRecords = link.TowardsAgentRecords;
            lock (_links)
            {
                _links.Add(link);
            }

            Interlocked.Increment(ref _linksAccepted);

            _ = PumpAsync(link, client, server, towardsAgent: false);
            _ = PumpAsync(link, server, client, towardsAgent: true);
        }
    }

    private async Task PumpAsync(Link link, Socket from, Socket to, bool towardsAgent)
    {
        var buffer = new byte[16 * 1024];
        try
        {
            while (true)
            {
                var read = await from.ReceiveAsync(buffer, SocketFlags.None, _stop.Token);
                if (read == 0)
                {
                    to.Shutdown(SocketShutdown.Send);
                    return;
                }

                while (link.BlackHoled)
                {
                    await Task.Delay(50, _stop.Token);
                }

                if (Delay > TimeSpan.Zero)
                {
                    await Task.Delay(Delay, _stop.Token);
                }

                if (BytesPerSecond > 0)
                {
                    await Task.Delay(TimeSpan.FromSeconds((double)read / BytesPerSecond), _stop.Token);
                }

                if (towardsAgent && link.CutAfter > 0 && (link.SentToAgent += read) > link.CutAfter)
                {
                    link.Reset();
                    return;
                }

                if (towardsAgent)
                {
                    link.TowardsAgentRecords.Observe(buffer.AsSpan(0, read));
                }

                await to.SendAsync(buffer.AsMemory(0, read), SocketFlags.None, _stop.Token);
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException)
        {
            link.Reset();
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        await _accepting;
        ResetOpenLinks();
    }

    private sealed class Link(Socket client, Socket server)
    {
        public volatile bool BlackHoled;
        public long CutAfter;
        public long SentToAgent;
        public readonly TlsRecordMeter TowardsAgentRecords = new();
        private int _reset;

        public void Reset()
        {
            if (Interlocked.Exchange(ref _reset, 1) != 0)
            {
                return;
            }

            foreach (var socket in new[] { client, server })
            {
                try
                {
                    socket.LingerState = new LingerOption(true, 0); // close with RST
                    socket.Close();
                }
                catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
                {
                }
            }
        }
    }
}
