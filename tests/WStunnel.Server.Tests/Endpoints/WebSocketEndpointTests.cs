using Microsoft.AspNetCore.Http;
using WStunnel.Protocol.Transports;
using WStunnel.Server.Endpoints;

namespace WStunnel.Server.Tests.Endpoints;

public sealed class WebSocketEndpointTests
{
    [Fact]
    public void ForgetRequestHeaders_DropsTheAgentsTokenAndSecretAndKeepsHost()
    {
        var context = new DefaultHttpContext();
        var headers = context.Request.Headers;
        headers.Host = "gateway.example:8443";
        headers[AgentHeaders.Token] = "agent-token-0123456789";
        headers[AgentHeaders.Secret] = "agent-secret";
        headers.SecWebSocketKey = "dGhlIHNhbXBsZSBub25jZQ==";

        WebSocketEndpoint.ForgetRequestHeaders(context.Request);

        Assert.Equal("gateway.example:8443", headers.Host.ToString());
        Assert.Single(headers);
    }
}
