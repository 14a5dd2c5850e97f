using WStunnel.Protocol.Session;

namespace WStunnel.Server.Registry;

/// <summary>
/// One tunnel the gateway knows: a token (and optionally a name) and the agent session serving it now.
/// The entry outlives sessions, so a reconnecting agent takes the same place.
/// </summary>
internal sealed class TunnelEntry(TokenKey key, string? name)
{
    private TunnelSession? _session;

    public TokenKey Key { get; } = key;

    /// <summary>The configured tunnel name, or null for a token-addressed tunnel.</summary>
    public string? Name { get; } = name;

    /// <summary>What logs and status pages call this tunnel: its name, or its token's fingerprint.</summary>
    public string DisplayName => Name ?? Key.Fingerprint;

    public TunnelSession? Session => Volatile.Read(ref _session);

    /// <summary>SHA-256 of the secret agents must present for this tunnel; null when the token suffices.</summary>
    public byte[]? AgentSecretHash { get; init; }

    /// <summary>Agent certificate identities allowed to serve this named tunnel; empty for any trusted one.</summary>
    public IReadOnlyList<string> AllowedIdentities { get; init; } = [];

    /// <summary>
    /// For a token-addressed tunnel under required agent certificates: the SHA-256 thumbprint of the
    /// first agent that registered it. Other identities are refused while the gateway remembers the token.
    /// </summary>
    public string? ClaimOwner(string thumbprint) => Interlocked.CompareExchange(ref _owner, thumbprint, null) ?? thumbprint;

    private string? _owner;

    /// <summary>Requests waiting for this tunnel's agent.</summary>
    public TunnelWaitQueue Queue { get; } = new();

    /// <summary>When the last agent left; null while one is connected or before any connected.</summary>
    public DateTimeOffset? DisconnectedAt { get; private set; }

    public bool EverConnected { get; private set; }

    /// <summary>Makes <paramref name="session"/> the one serving this tunnel; returns the one it replaces.</summary>
    public TunnelSession? Attach(TunnelSession session)
    {
        EverConnected = true;
        DisconnectedAt = null;
        var replaced = Interlocked.Exchange(ref _session, session);
        Queue.SessionAvailable(session);
        return replaced;
    }

    /// <summary>Removes <paramref name="session"/> if it is still the current one.</summary>
    public bool Detach(TunnelSession session, DateTimeOffset now)
    {
        if (Interlocked.CompareExchange(ref _session, null, session) != session)
        {
            return false;
        }

        DisconnectedAt = now;
        return true;
    }
}
