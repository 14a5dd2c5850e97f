using System.Net;
using Microsoft.Extensions.Options;
using WStunnel.Server.Configuration;
using WStunnel.Server.Security;

namespace WStunnel.Server.Tests.Security;

public sealed class ClientRateLimiterTests
{
    [Theory]
    [InlineData("203.0.113.7", "203.0.113.7")]
    [InlineData("::ffff:203.0.113.7", "203.0.113.7")]
    [InlineData("2001:db8:1:2:aaaa:bbbb:cccc:dddd", "2001:db8:1:2::")]
    public void Addresses_count_against_their_host_or_their_IPv6_slash_64(string address, string partition) =>
        Assert.Equal(IPAddress.Parse(partition), ClientRateLimiter.PartitionOf(IPAddress.Parse(address)));

    [Fact]
    public void A_host_cannot_escape_the_limit_by_changing_addresses_within_its_slash_64()
    {
        var options = new WStunnelOptions { RateLimits = { RegistrationsPerMinute = 2 } };
        var limiter = new ClientRateLimiter(new LiveSettings(Options.Create(options)));

        Assert.True(limiter.TryRegistration(IPAddress.Parse("2001:db8::1"), out _));
        Assert.True(limiter.TryRegistration(IPAddress.Parse("2001:db8::2"), out _));
        Assert.False(limiter.TryRegistration(IPAddress.Parse("2001:db8::3"), out var retryAfter));
        Assert.True(retryAfter > TimeSpan.Zero);
        Assert.True(limiter.TryRegistration(IPAddress.Parse("2001:db8:0:1::1"), out _)); // another /64: another host
    }

    [Fact]
    public void Zero_turns_a_limit_off()
    {
        var options = new WStunnelOptions { RateLimits = { UnknownTokenRequestsPerMinute = 0 } };
        var limiter = new ClientRateLimiter(new LiveSettings(Options.Create(options)));

        for (var i = 0; i < 1000; i++)
        {
            Assert.True(limiter.TryUnknownToken(IPAddress.Loopback, out _));
        }
    }

    [Fact]
    public void Limits_the_configuration_changes_apply_to_the_next_request()
    {
        var settings = new LiveSettings(Options.Create(new WStunnelOptions { RateLimits = { UnknownTokenRequestsPerMinute = 0 } }));
        var limiter = new ClientRateLimiter(settings);
        Assert.True(limiter.TryUnknownToken(IPAddress.Loopback, out _));

        settings.Apply(new WStunnelOptions { RateLimits = { UnknownTokenRequestsPerMinute = 1, RegistrationsPerMinute = 7 } });

        Assert.True(limiter.TryUnknownToken(IPAddress.Loopback, out _));
        Assert.False(limiter.TryUnknownToken(IPAddress.Loopback, out _));
        Assert.Equal(7, limiter.RegistrationsPerMinute);

        settings.Apply(new WStunnelOptions { RateLimits = { UnknownTokenRequestsPerMinute = 0 } });
        Assert.True(limiter.TryUnknownToken(IPAddress.Loopback, out _));
    }
}
