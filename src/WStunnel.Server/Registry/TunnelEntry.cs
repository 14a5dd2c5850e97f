using WStunnel.Protocol.Session;

namespace WStunnel.Server.Registry;

/// <summary>
/// One tunnel the gateway knows: a token (and optionally a name) and the agent sessions serving it
/// now — one, or up to <see cref="MaxAgents"/> when the operator made the tunnel a pool. The entry
/// outlives sessions, so a reconnecting agent takes the same place.
/// </summary>
/// <param name="key">The token's key.</param>
/// <param name="name">The configured name, or null for a token-addressed tunnel.</param>
/// <param name="queue">The line of waiting requests, when this entry takes over from one the configuration replaced.</param>
/// <param name="traffic">The tunnel's counters, when this entry takes over from one the configuration replaced.</param>
internal sealed class TunnelEntry(TokenKey key, string? name, TunnelWaitQueue? queue = null, TunnelTraffic? traffic = null)
{
    private readonly Lock _lock = new();
    private TunnelSession[] _sessions = [];
    private string? _owner;
    private uint _nextTurn;

    public TokenKey Key { get; } = key;

    /// <summary>The configured tunnel name, or null for a token-addressed tunnel.</summary>
    public string? Name { get; } = name;

    /// <summary>What logs and status pages call this tunnel: its name, or its token's fingerprint.</summary>
    public string DisplayName => Name ?? Key.Fingerprint;

    /// <summary>How many agents may serve the tunnel at once; above one it is a pool and a new agent joins instead of replacing.</summary>
    public int MaxAgents { get; init; } = 1;

    public bool IsPool => MaxAgents > 1;

    /// <summary>How a pool spreads requests over its agents.</summary>
    public PoolBalancing Balancing { get; init; } = PoolBalancing.LeastRequests;

    /// <summary>SHA-256 of the secret agents must present for this tunnel; null when the token suffices.</summary>
    public byte[]? AgentSecretHash { get; init; }

    /// <summary>Agent certificate identities allowed to serve this named tunnel; empty for any trusted one.</summary>
    public IReadOnlyList<string> AllowedIdentities { get; init; } = [];

    /// <summary>The sessions serving the tunnel now, including ones whose connection is lost and may resume.</summary>
    public IReadOnlyList<TunnelSession> Sessions => Volatile.Read(ref _sessions);

    /// <summary>Agents with a live connection: a pool admits new agents while these are fewer than <see cref="MaxAgents"/>.</summary>
    public int ConnectedAgents => Sessions.Count(static s => !s.IsDetached);

    /// <summary>
    /// The session the next request goes to: one that takes streams, chosen by <see cref="Balancing"/>
    /// in a pool (each read takes a turn, so only the forwarder picks). When none takes streams, an
    /// attached one (its agent may come back) or null; ask <see cref="Sessions"/> whether any serves.
    /// </summary>
    public TunnelSession? Session
    {
        get
        {
            var sessions = Volatile.Read(ref _sessions);
            switch (sessions.Length)
            {
                case 0:
                    return null;
                case 1:
                    return sessions[0];
            }

            return Balancing == PoolBalancing.RoundRobin ? NextInTurn(sessions) : LeastBusy(sessions);
        }
    }

    private TunnelSession NextInTurn(TunnelSession[] sessions)
    {
        var start = Interlocked.Increment(ref _nextTurn);
        for (var i = 0; i < sessions.Length; i++)
        {
            var candidate = sessions[(int)((start + (uint)i) % (uint)sessions.Length)];
            if (candidate.IsAvailable)
            {
                return candidate;
            }
        }

        return sessions[0];
    }

    // Ties are broken in turn, so light traffic still reaches (and keeps checking) every agent.
    private TunnelSession LeastBusy(TunnelSession[] sessions)
    {
        var start = Interlocked.Increment(ref _nextTurn);
        TunnelSession? best = null;
        var fewest = int.MaxValue;
        for (var i = 0; i < sessions.Length; i++)
        {
            var candidate = sessions[(int)((start + (uint)i) % (uint)sessions.Length)];
            if (candidate.IsAvailable && candidate.ActiveStreams is var active && active < fewest)
            {
                best = candidate;
                fewest = active;
            }
        }

        return best ?? sessions[0];
    }

    /// <summary>
    /// For a token-addressed tunnel under required agent certificates: the certificate identity
    /// (issuer and names, kept across renewals) of the first agent that registered it. Other identities
    /// are refused while the gateway remembers the token.
    /// </summary>
    public string? ClaimOwner(string identity) => Interlocked.CompareExchange(ref _owner, identity, null) ?? identity;

    /// <summary>What went through the tunnel.</summary>
    public TunnelTraffic Traffic { get; } = traffic ?? new();

    /// <summary>Requests waiting for this tunnel's agent.</summary>
    public TunnelWaitQueue Queue { get; } = queue ?? new();

    /// <summary>When the last agent left; null while one is connected or before any connected.</summary>
    public DateTimeOffset? DisconnectedAt { get; private set; }

    public bool EverConnected { get; private set; }

    /// <summary>
    /// A configuration change put this entry in place of <paramref name="previous"/>, whose agents are
    /// told to come back: requests wait for them as for an agent that just left.
    /// </summary>
    public void Succeed(TunnelEntry previous, DateTimeOffset now)
    {
        lock (_lock)
        {
            EverConnected = previous.EverConnected;
            DisconnectedAt = previous.Sessions.Count > 0 ? now : previous.DisconnectedAt;
        }
    }

    /// <summary>
    /// Makes <paramref name="session"/> serve this tunnel (again, after a resume). It joins a pool; in a
    /// single-agent tunnel it takes the place of the session there, which is returned.
    /// </summary>
    public TunnelSession? Attach(TunnelSession session)
    {
        TunnelSession? replaced = null;
        lock (_lock)
        {
            EverConnected = true;
            DisconnectedAt = null;
            if (IsPool)
            {
                if (Array.IndexOf(_sessions, session) < 0)
                {
                    Volatile.Write(ref _sessions, [.. _sessions, session]);
                }
            }
            else
            {
                replaced = _sessions.Length == 1 ? _sessions[0] : null;
                Volatile.Write(ref _sessions, [session]);
            }
        }

        Queue.SessionAvailable(session);
        return replaced;
    }

    /// <summary>Removes <paramref name="session"/> if it still serves the tunnel; the last one out stamps the time.</summary>
    public bool Detach(TunnelSession session, DateTimeOffset now)
    {
        lock (_lock)
        {
            var index = Array.IndexOf(_sessions, session);
            if (index < 0)
            {
                return false;
            }

            Volatile.Write(ref _sessions, [.. _sessions[..index], .. _sessions[(index + 1)..]]);
            if (_sessions.Length == 0)
            {
                DisconnectedAt = now;
            }

            return true;
        }
    }
}
