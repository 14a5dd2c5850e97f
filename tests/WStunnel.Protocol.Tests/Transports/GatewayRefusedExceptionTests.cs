using System.Net;
using System.Net.Http.Headers;
using WStunnel.Protocol.Transports;

namespace WStunnel.Protocol.Tests.Transports;

public sealed class GatewayRefusedExceptionTests
{
    private static readonly DateTimeOffset Now = new(2026, 11, 29, 12, 0, 0, TimeSpan.Zero);

    [Fact]
    public void RetryAfterOf_seconds_is_that_wait()
    {
        Assert.Equal(TimeSpan.FromSeconds(30), GatewayRefusedException.RetryAfterOf(RetryConditionHeaderValue.Parse("30"), Now));
    }

    [Fact]
    public void RetryAfterOf_a_date_is_the_time_until_it_and_nothing_once_it_has_passed()
    {
        Assert.Equal(TimeSpan.FromMinutes(2), GatewayRefusedException.RetryAfterOf(RetryConditionHeaderValue.Parse("Sun, 29 Nov 2026 12:02:00 GMT"), Now));
        Assert.Equal(TimeSpan.Zero, GatewayRefusedException.RetryAfterOf(RetryConditionHeaderValue.Parse("Sun, 29 Nov 2026 11:58:00 GMT"), Now));
        Assert.Null(GatewayRefusedException.RetryAfterOf(null, Now));
    }

    [Theory]
    [InlineData(HttpStatusCode.TooManyRequests, true, false, false)]
    [InlineData(HttpStatusCode.ServiceUnavailable, true, false, false)]
    [InlineData(HttpStatusCode.MovedPermanently, false, true, false)]
    [InlineData(HttpStatusCode.TemporaryRedirect, false, true, false)]
    [InlineData(HttpStatusCode.Conflict, false, false, true)]
    [InlineData(HttpStatusCode.Forbidden, false, false, false)] // a proxy refusing WebSockets answers this too
    [InlineData(HttpStatusCode.BadRequest, false, false, false)] // and the gateway, to an upgrade stripped on the way
    public void What_an_answer_tells_the_agent(HttpStatusCode status, bool asksToWait, bool redirects, bool tunnelTaken)
    {
        var refusal = new GatewayRefusedException(status, null);
        Assert.Equal((asksToWait, redirects, tunnelTaken), (refusal.AsksToWait, refusal.Redirects, refusal.TunnelTaken));
    }

    [Fact]
    public void The_message_says_what_the_status_means_then_the_gateways_reason()
    {
        var refusal = new GatewayRefusedException(HttpStatusCode.ServiceUnavailable, null, reason: "The gateway is shutting down.");
        Assert.Equal("the gateway cannot take this agent now (503) — its answer: The gateway is shutting down.", refusal.Message);
    }
}
