using System.Buffers;
using System.Text;
using WStunnel.Protocol.Transports;
using WStunnel.Server.Endpoints;

namespace WStunnel.Server.Tests.Endpoints;

public sealed class AgentUpgradeHeadTests
{
    private static readonly AgentRoute[] Routes = [new("/_tunnel", [])];

    private const string Handshake =
        "Host: gateway.example\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
        + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Protocol: wstunnel.v1\r\nX-WStunnel-Token: agent-token-0123456789\r\n";

    private static UpgradeHeadOutcome Read(string text, out AgentUpgradeHead? head, int maxHeadBytes = 16 * 1024, int maxHeaders = 100) =>
        AgentUpgradeHead.TryRead(new ReadOnlySequence<byte>(Encoding.Latin1.GetBytes(text)), Routes, maxHeadBytes, maxHeaders, out head);

    private static UpgradeHeadOutcome Read(string text) => Read(text, out _);

    [Fact]
    public void TryRead_CompleteUpgrade_ReadsPathHeadersKeyAndLength()
    {
        const string Text = "GET /_tunnel HTTP/1.1\r\n" + Handshake + "\r\n";

        Assert.Equal(UpgradeHeadOutcome.Agent, Read(Text + "frame bytes\nafter the head", out var head));

        Assert.Equal("/_tunnel", head!.Path);
        Assert.Equal(string.Empty, head.Query);
        Assert.Equal("agent-token-0123456789", head.Headers[AgentHeaders.Token].ToString());
        Assert.Equal("dGhlIHNhbXBsZSBub25jZQ==", head.WebSocketKey);
        Assert.Equal(Text.Length, head.Length);
    }

    [Fact]
    public void TryRead_PathInAnotherCaseWithTrailingSlashAndQuery_IsAnAgent()
    {
        Assert.Equal(UpgradeHeadOutcome.Agent, Read("GET /_TUNNEL/?v=2 HTTP/1.1\r\n" + Handshake + "\r\n", out var head));

        Assert.Equal("/_TUNNEL/", head!.Path);
        Assert.Equal("?v=2", head.Query);
    }

    [Theory]
    [InlineData("")]
    [InlineData("G")]
    [InlineData("GET /_tu")]
    [InlineData("GET /_tunnel")]
    [InlineData("GET /_tunnel HTTP/1.1\r\nHost: gateway.example\r\n")]
    public void TryRead_AgentHeadSoFar_NeedsMore(string text) => Assert.Equal(UpgradeHeadOutcome.NeedMore, Read(text));

    [Theory]
    [InlineData("POST /_tunnel HTTP/1.1\r\n")]
    [InlineData("GET /other HTTP/1.1\r\n")]
    [InlineData("GET /_tunnelx HTTP/1.1\r\n")]
    [InlineData("GET /_tunnel/connect HTTP/1.1\r\n")]
    [InlineData("GET /_tun%6eel HTTP/1.1\r\n")]
    [InlineData("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")]
    [InlineData("\u0016\u0003\u0001")] // a TLS record: no TLS in front of the middleware
    public void TryRead_AnythingElse_IsNotAnAgentFromItsFirstBytes(string text) => Assert.Equal(UpgradeHeadOutcome.NotAgent, Read(text));

    [Theory]
    [InlineData("GET /_tunnel HTTP/1.0\r\n" + Handshake + "\r\n")]
    [InlineData("GET /_tunnel HTTP/1.1 extra\r\n" + Handshake + "\r\n")]
    [InlineData("GET /_tunnel HTTP/1.1\r\n" + Handshake + "Content-Length: 5\r\n\r\n")]
    [InlineData("GET /_tunnel HTTP/1.1\r\n" + Handshake + "Transfer-Encoding: chunked\r\n\r\n")]
    [InlineData("GET /_tunnel HTTP/1.1\r\n" + Handshake + "Host: second.example\r\n\r\n")]
    [InlineData("GET /_tunnel HTTP/1.1\r\n" + Handshake + "X-Folded: a\r\n b\r\n\r\n")]
    [InlineData("GET /_tunnel HTTP/1.1\r\n" + Handshake + "Bad Name: value\r\n\r\n")]
    [InlineData("GET /_tunnel HTTP/1.1\r\n" + Handshake + "X-Latin: caf\u00e9\r\n\r\n")]
    [InlineData("GET /_tunnel HTTP/1.1\r\n" + Handshake + "X-Control: a\u0001b\r\n\r\n")]
    [InlineData("GET /_tunnel HTTP/1.1\nHost: gateway.example\n")] // bare LF line ends, even before the head is complete
    public void TryRead_UnusualOrInvalidHead_IsLeftToKestrel(string text) => Assert.Equal(UpgradeHeadOutcome.NotAgent, Read(text));

    [Theory]
    [InlineData("Upgrade: websocket\r\n", "Upgrade: h2c\r\n")]
    [InlineData("Connection: Upgrade\r\n", "Connection: keep-alive\r\n")]
    [InlineData("Sec-WebSocket-Version: 13\r\n", "Sec-WebSocket-Version: 8\r\n")]
    [InlineData("Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n", "Sec-WebSocket-Key: c2hvcnQ=\r\n")]
    [InlineData("Sec-WebSocket-Protocol: wstunnel.v1\r\n", "Sec-WebSocket-Protocol: chat\r\n")]
    [InlineData("Host: gateway.example\r\n", "")]
    public void TryRead_IncompleteHandshake_IsLeftToTheHttpEndpointWhichExplains(string header, string replacement) =>
        Assert.Equal(UpgradeHeadOutcome.NotAgent, Read("GET /_tunnel HTTP/1.1\r\n" + Handshake.Replace(header, replacement, StringComparison.Ordinal) + "\r\n"));

    [Fact]
    public void TryRead_TokenListsAndCase_AreReadAsHttpDefinesThem()
    {
        var text = "GET /_tunnel HTTP/1.1\r\n" + Handshake
            .Replace("Connection: Upgrade", "connection: keep-alive, upgrade", StringComparison.Ordinal)
            .Replace("Sec-WebSocket-Protocol: wstunnel.v1", "Sec-WebSocket-Protocol: other, wstunnel.v1", StringComparison.Ordinal) + "\r\n";

        Assert.Equal(UpgradeHeadOutcome.Agent, Read(text));
    }

    [Theory]
    [InlineData("AGENTS.example.com", true)]
    [InlineData("agents.example.com:443", true)]
    [InlineData("agents.example.com:8443", true)] // no port required: any port
    [InlineData("other.example.com", false)]
    [InlineData("edge.agents.test:8443", true)]
    [InlineData("edge.agents.test", false)]
    [InlineData("agents.test:8443", false)]
    [InlineData("[::1]:9000", true)]
    [InlineData("[::1]:9001", false)]
    public void TryRead_RequiredHosts_AreMatchedAsRoutingMatchesThem(string host, bool agent)
    {
        AgentRoute[] routes = [new("/_tunnel", ["agents.example.com", "*.agents.test:8443", "*:9000"])];
        var text = "GET /_tunnel HTTP/1.1\r\n" + Handshake.Replace("gateway.example", host, StringComparison.Ordinal) + "\r\n";

        var outcome = AgentUpgradeHead.TryRead(new ReadOnlySequence<byte>(Encoding.ASCII.GetBytes(text)), routes, 16 * 1024, 100, out _);

        Assert.Equal(agent ? UpgradeHeadOutcome.Agent : UpgradeHeadOutcome.NotAgent, outcome);
    }

    [Fact]
    public void TryRead_HeadOverKestrelsLimits_IsLeftToKestrel()
    {
        var text = "GET /_tunnel HTTP/1.1\r\n" + Handshake + "\r\n";

        Assert.Equal(UpgradeHeadOutcome.NotAgent, Read(text, out _, maxHeadBytes: text.Length - 1));
        Assert.Equal(UpgradeHeadOutcome.NotAgent, Read(text[..^2], out _, maxHeadBytes: 100)); // incomplete and already over
        Assert.Equal(UpgradeHeadOutcome.NotAgent, Read(text, out _, maxHeaders: 6));
        Assert.Equal(UpgradeHeadOutcome.Agent, Read(text, out _, maxHeaders: 7));
    }

    [Fact]
    public void TryRead_HeadSpreadOverSegments_IsReadWhole()
    {
        var bytes = Encoding.ASCII.GetBytes("GET /_tunnel HTTP/1.1\r\n" + Handshake + "\r\n");
        var first = new Segment(bytes.AsMemory(0, 5));
        var last = first.Append(bytes.AsMemory(5, 60)).Append(bytes.AsMemory(65));

        Assert.Equal(UpgradeHeadOutcome.Agent, AgentUpgradeHead.TryRead(new ReadOnlySequence<byte>(first, 0, last, last.Memory.Length), Routes, 16 * 1024, 100, out var head));
        Assert.Equal(bytes.Length, head!.Length);
    }

    private sealed class Segment : ReadOnlySequenceSegment<byte>
    {
        public Segment(ReadOnlyMemory<byte> memory) => Memory = memory;

        public Segment Append(ReadOnlyMemory<byte> memory)
        {
            var next = new Segment(memory) { RunningIndex = RunningIndex + Memory.Length };
            Next = next;
            return next;
        }
    }
}
