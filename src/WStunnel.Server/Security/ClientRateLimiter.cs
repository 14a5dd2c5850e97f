using System.Net;
using System.Threading.RateLimiting;
using WStunnel.Server.Configuration;

namespace WStunnel.Server.Security;

/// <summary>
/// The gateway's own per address limits (<see cref="WStunnelRateLimitOptions"/>). They live in the
/// extension rather than in ASP.NET Core's rate limiting middleware so that they hold whether or not
/// the application calls <c>UseRateLimiter()</c>: a limit that is configured is always enforced.
/// </summary>
internal sealed class ClientRateLimiter(LiveSettings settings) : IDisposable
{
    private readonly Lock _rebuilding = new();
    private Limiters? _limiters;

    /// <summary>The limit on registrations now (<c>RateLimits:RegistrationsPerMinute</c>), for the answer that says it was reached.</summary>
    public int RegistrationsPerMinute => settings.Current.RateLimits.RegistrationsPerMinute;

    /// <summary>Whether <paramref name="client"/> may register an agent now; if not, when to try again.</summary>
    public bool TryRegistration(IPAddress? client, out TimeSpan retryAfter) => TryAcquire(static l => l.Registrations, client, out retryAfter);

    /// <summary>Counts a request for an unknown token; false once <paramref name="client"/> made too many.</summary>
    public bool TryUnknownToken(IPAddress? client, out TimeSpan retryAfter) => TryAcquire(static l => l.UnknownTokens, client, out retryAfter);

    public void Dispose() => Volatile.Read(ref _limiters)?.Dispose();

    private bool TryAcquire(Func<Limiters, PartitionedRateLimiter<IPAddress>?> which, IPAddress? client, out TimeSpan retryAfter)
    {
        while (true)
        {
            try
            {
                return TryAcquire(which(Current()), client, out retryAfter);
            }
            catch (ObjectDisposedException)
            {
                // The limits changed while this request held the old limiter: count it against the new one.
            }
        }
    }

    /// <summary>The limiters for the limits configured now; new (counting afresh) when the configuration changed them.</summary>
    private Limiters Current()
    {
        var limits = settings.Current.RateLimits;
        if (Volatile.Read(ref _limiters) is { } current && ReferenceEquals(current.Source, limits))
        {
            return current;
        }

        lock (_rebuilding)
        {
            var previous = Volatile.Read(ref _limiters);
            if (previous is not null && ReferenceEquals(previous.Source, limits))
            {
                return previous;
            }

            var next = new Limiters(limits);
            Volatile.Write(ref _limiters, next);
            previous?.Dispose();
            return next;
        }
    }

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

    /// <summary>The two limiters built from one version of the limits.</summary>
    private sealed class Limiters(WStunnelRateLimitOptions limits) : IDisposable
    {
        public WStunnelRateLimitOptions Source { get; } = limits;

        public PartitionedRateLimiter<IPAddress>? Registrations { get; } = PerMinute(limits.RegistrationsPerMinute);

        public PartitionedRateLimiter<IPAddress>? UnknownTokens { get; } = PerMinute(limits.UnknownTokenRequestsPerMinute);

        public void Dispose()
        {
            Registrations?.Dispose();
            UnknownTokens?.Dispose();
        }
    }
}
