using WStunnel.Server.Endpoints;

namespace WStunnel.Server.Tests.Endpoints;

public sealed class AgentWebSocketAcceptorTests
{
    [Fact]
    public void AcceptKey_TheExampleOfRfc6455_IsTheRfcsAnswer()
    {
        // RFC 6455 section 1.3.
        Assert.Equal("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", AgentWebSocketAcceptor.AcceptKey("dGhlIHNhbXBsZSBub25jZQ=="));
    }
}
