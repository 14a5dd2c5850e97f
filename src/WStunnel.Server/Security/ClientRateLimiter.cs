using System.Net;
using WStunnel.Server.Configuration;

namespace WStunnel.Server.Security;

/// <summary>
/// The gateway's own per address limits (<see cref="WStunnelRateLimitOptions"/>). They live in the
/// extension rather than in ASP.NET Core's rate limiting middleware so that they hold whether or not
/// the application calls <c>UseRateLimiter()</c>: a limit that is configured is always enforced.
/// </summary>
internal sealed class ClientRateLimiter(LiveSettings settings, TimeProvider? time = null)
{
    private static readonly TimeSpan Minute = TimeSpan.FromMinutes(1);
    private readonly TimeProvider _time = time ?? TimeProvider.System;
    private readonly Lock _rebuilding = new();
    private Limiters? _limiters;

    /// <summary>The limit on registrations now (<c>RateLimits:RegistrationsPerMinute</c>), for the answer that says it was reached.</summary>
    public int RegistrationsPerMinute => settings.Current.RateLimits.RegistrationsPerMinute;

    /// <summary>Whether <paramref name="client"/> may register an agent now; if not, when to try again.</summary>
    public bool TryRegistration(IPAddress? client, out TimeSpan retryAfter) => TryAcquire(static l => l.Registrations, client, out retryAfter);

    /// <summary>Counts a request for an unknown token; false once <paramref name="client"/> made too many.</summary>
    public bool TryUnknownToken(IPAddress? client, out TimeSpan retryAfter) => TryAcquire(static l => l.UnknownTokens, client, out retryAfter);

    private bool TryAcquire(Func<Limiters, ClientTokenBuckets?> which, IPAddress? client, out TimeSpan retryAfter)
    {
        if (which(Current()) is not { } buckets)
        {
            retryAfter = TimeSpan.Zero;
            return true;
        }

        return buckets.TryTake(PartitionOf(client), out retryAfter);
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

            var next = new Limiters(limits, _time);
            Volatile.Write(ref _limiters, next);
            return next;
        }
    }

    /// <summary>Whole seconds, at least one, as <c>Retry-After</c> wants them.</summary>
    public static string RetryAfterSeconds(TimeSpan wait) =>
        Math.Max(1, (int)Math.Ceiling(wait.TotalSeconds)).ToString(System.Globalization.CultureInfo.InvariantCulture);

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

    /// <summary>The two limits' buckets built from one version of the limits; a change counts afresh.</summary>
    private sealed class Limiters(WStunnelRateLimitOptions limits, TimeProvider time)
    {
        public WStunnelRateLimitOptions Source { get; } = limits;

        public ClientTokenBuckets? Registrations { get; } = PerMinute(limits.RegistrationsPerMinute, time);

        public ClientTokenBuckets? UnknownTokens { get; } = PerMinute(limits.UnknownTokenRequestsPerMinute, time);

        private static ClientTokenBuckets? PerMinute(int permits, TimeProvider time) => permits <= 0 ? null : new ClientTokenBuckets(permits, Minute, time);
    }
}
