using System.Net;
using System.Threading.RateLimiting;
using Microsoft.Extensions.Options;

namespace WStunnel.Server.Security;

/// <summary>
/// The gateway's own per address limits (<see cref="WStunnelRateLimitOptions"/>). They live in the
/// extension rather than in ASP.NET Core's rate limiting middleware so that they hold whether or not
/// the application calls <c>UseRateLimiter()</c>: a limit that is configured is always enforced.
/// </summary>
internal sealed class ClientRateLimiter : IDisposable
{
    private readonly PartitionedRateLimiter<IPAddress>? _registrations;
    private readonly PartitionedRateLimiter<IPAddress>? _unknownTokens;

    public ClientRateLimiter(IOptions<WStunnelOptions> options)
    {
        var limits = options.Value.RateLimits;
        _registrations = PerMinute(limits.RegistrationsPerMinute);
        _unknownTokens = PerMinute(limits.UnknownTokenRequestsPerMinute);
    }

    /// <summary>Whether <paramref name="client"/> may register an agent now; if not, when to try again.</summary>
    public bool TryRegistration(IPAddress? client, out TimeSpan retryAfter) => TryAcquire(_registrations, client, out retryAfter);

    /// <summary>Counts a request for an unknown token; false once <paramref name="client"/> made too many.</summary>
    public bool TryUnknownToken(IPAddress? client, out TimeSpan retryAfter) => TryAcquire(_unknownTokens, client, out retryAfter);

    /// <summary>Whole seconds, at least one, as <c>Retry-After</c> wants them.</summary>
    public static string RetryAfterSeconds(TimeSpan wait) =>
        Math.Max(1, (int)Math.Ceiling(wait.TotalSeconds)).ToString(System.Globalization.CultureInfo.InvariantCulture);

    private static bool TryAcquire(PartitionedRateLimiter<IPAddress>? limiter, IPAddress? client, out TimeSpan retryAfter)
    {
        retryAfter = TimeSpan.Zero;
        if (limiter is null)
        {
            return true;
        }

        using var lease = limiter.AttemptAcquire(PartitionOf(client));
        if (lease.IsAcquired)
        {
            return true;
        }

        retryAfter = lease.TryGetMetadata(MetadataName.RetryAfter, out var wait) ? wait : TimeSpan.FromMinutes(1);
        return false;
    }

    /// <summary>
    /// The address a limit counts against: IPv4 addresses as they are, IPv6 addresses by their /64
    /// prefix — one host usually owns a whole /64, and could otherwise pick a fresh address per request.
    /// </summary>
    internal static IPAddress PartitionOf(IPAddress? client)
    {
        if (client is null)
        {
            return IPAddress.None;
        }

        if (client.IsIPv4MappedToIPv6)
        {
            return client.MapToIPv4();
        }

        if (client.AddressFamily != System.Net.Sockets.AddressFamily.InterNetworkV6)
        {
            return client;
        }

        Span<byte> bytes = stackalloc byte[16];
        client.TryWriteBytes(bytes, out _);
        bytes[8..].Clear();
        return new IPAddress(bytes);
    }

    private static PartitionedRateLimiter<IPAddress>? PerMinute(int permits) => permits <= 0
        ? null
        : PartitionedRateLimiter.Create<IPAddress, IPAddress>(client => RateLimitPartition.GetTokenBucketLimiter(client, _ => new TokenBucketRateLimiterOptions
        {
            TokenLimit = permits,
            TokensPerPeriod = permits,
            ReplenishmentPeriod = TimeSpan.FromMinutes(1),
            QueueLimit = 0,
            AutoReplenishment = true,
        }));

    public void Dispose()
    {
        _registrations?.Dispose();
        _unknownTokens?.Dispose();
    }
}
