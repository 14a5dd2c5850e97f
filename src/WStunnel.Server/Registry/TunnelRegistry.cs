using System.Collections.Concurrent;
using System.Collections.Frozen;
using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Options;
using WStunnel.Protocol.Session;
using WStunnel.Server.Configuration;

namespace WStunnel.Server.Registry;

/// <summary>
/// Every tunnel the gateway knows, keyed by token hash, plus the named tunnels from configuration.
/// Agents come and go here without touching YARP's configuration, so registration cost does not
/// grow with the number of tunnels.
/// </summary>
internal sealed class TunnelRegistry : IDisposable
{
    private readonly ConcurrentDictionary<TokenKey, TunnelEntry> _byToken = new();
    private readonly Lock _reconfiguring = new();
    private volatile FrozenDictionary<string, TunnelEntry> _byName = FrozenDictionary<string, TunnelEntry>.Empty;
    private readonly ConcurrentDictionary<Guid, RegisteredSession> _sessions = new();
    private readonly ConcurrentDictionary<string, int> _sessionsByIdentity = new();
    private readonly WStunnelOptions _options;
    private readonly LiveSettings _settings;
    private readonly TimeProvider _time;
    private readonly CancellationTokenSource _stopping = new();
    private long _lastPrune;
    private int _queued;

    public TunnelRegistry(IOptions<WStunnelOptions> options, TimeProvider time, LiveSettings? settings = null)
    {
        _options = options.Value;
        _settings = settings ?? new LiveSettings(options);
        _time = time;
        Stopping = _stopping.Token;
        Reconfigure(_options.Tunnels);
    }

    /// <summary>
    /// Makes the named tunnels those of <paramref name="tunnels"/> (the configuration changed). A tunnel
    /// whose token, secret, identities or pool settings changed gets a new entry, which takes over its
    /// waiting requests; the entries it replaced, those removed, and a token-addressed tunnel whose token
    /// a new named tunnel takes are returned retired — their agents are to be told to come back, to be
    /// admitted by the new rules; a new named tunnel takes over the waiting requests of the token-addressed
    /// one whose token it takes. Requests waiting for a removed entry stop waiting at once. Unchanged
    /// tunnels keep their entries and sessions.
    /// </summary>
    public TunnelsReconfigured Reconfigure(IDictionary<string, WStunnelTunnelOptions> tunnels)
    {
        ArgumentNullException.ThrowIfNull(tunnels);
        lock (_reconfiguring)
        {
            var now = _time.GetUtcNow();
            var current = _byName;
            var next = new Dictionary<string, TunnelEntry>(StringComparer.OrdinalIgnoreCase);
            var result = new TunnelsReconfigured();
            foreach (var (name, tunnel) in tunnels)
            {
                var previous = current.GetValueOrDefault(name);
                var key = TokenKey.From(TunnelSecretSource.ReadToken(tunnel));

                // A tunnel added for a token an agent serves unlisted takes over its line of waiting requests:
                // that agent is asked to come back, to the named tunnel.
                var unlisted = previous is null && _byToken.TryGetValue(key, out var existing) && existing.Name is null ? existing : null;
                var candidate = NewEntry(name, key, tunnel, previous ?? unlisted);
                if (previous is not null && SameRules(previous, candidate))
                {
                    next[name] = previous;
                    continue;
                }

                if (previous is null)
                {
                    result.Added.Add(name);
                    if (unlisted is not null)
                    {
                        candidate.Succeed(unlisted, now);
                    }
                }
                else
                {
                    candidate.Succeed(previous, now);
                    result.Changed.Add(name);
                    result.Retired.Add(previous);
                }

                next[name] = candidate;
            }

            foreach (var (name, entry) in current)
            {
                if (!next.ContainsKey(name))
                {
                    result.Removed.Add(name);
                    result.Retired.Add(entry);
                    entry.Queue.Close();
                }
            }

            foreach (var retired in result.Retired)
            {
                _byToken.TryRemove(new KeyValuePair<TokenKey, TunnelEntry>(retired.Key, retired));
            }

            foreach (var entry in next.Values)
            {
                TunnelEntry? displaced = null;
                _byToken.AddOrUpdate(entry.Key, entry, (_, existing) =>
                {
                    displaced = existing; // the last call's is the one replaced, even if a registration raced it
                    return entry;
                });
                if (displaced is { Name: null })
                {
                    result.Retired.Add(displaced); // its agent comes back to the named tunnel that now owns the token
                    if (!ReferenceEquals(displaced.Queue, entry.Queue))
                    {
                        displaced.Queue.Close(); // one that registered while this ran: its requests were not handed over
                    }
                }
            }

            _byName = next.ToFrozenDictionary(StringComparer.OrdinalIgnoreCase);
            return result;
        }
    }

    // The entry it takes over from keeps counting, and its waiting requests keep their places.
    private static TunnelEntry NewEntry(string name, TokenKey key, WStunnelTunnelOptions tunnel, TunnelEntry? predecessor) =>
        new(key, name, predecessor?.Queue, predecessor?.Traffic)
        {
            AgentSecretHash = TunnelSecretSource.ReadAgentSecret(tunnel) is { } secret ? SHA256.HashData(Encoding.UTF8.GetBytes(secret)) : null,
            AllowedIdentities = [.. tunnel.AgentIdentities],
            MaxAgents = tunnel.MaxAgents,
            Balancing = Enum.Parse<PoolBalancing>(tunnel.LoadBalancingPolicy, ignoreCase: true),
        };

    private static bool SameRules(TunnelEntry a, TunnelEntry b) =>
        a.Key.Equals(b.Key)
        && (a.AgentSecretHash is null ? b.AgentSecretHash is null : b.AgentSecretHash is not null && a.AgentSecretHash.AsSpan().SequenceEqual(b.AgentSecretHash))
        && a.AllowedIdentities.SequenceEqual(b.AllowedIdentities, StringComparer.Ordinal)
        && a.MaxAgents == b.MaxAgents
        && a.Balancing == b.Balancing;

    /// <summary>The tunnel a request's token addresses, or null when the gateway does not know the token.</summary>
    public TunnelEntry? FindByToken(string token)
    {
        if (token.Length < _options.MinimumTokenLength)
        {
            return null;
        }

        return _byToken.TryGetValue(TokenKey.From(token), out var entry) && (entry.Name is not null || entry.EverConnected) ? entry : null;
    }

    public TunnelEntry? FindByName(string name) => _byName.GetValueOrDefault(name);

    public bool IsNamed(string name) => _byName.ContainsKey(name);

    /// <summary>The entry an agent presenting <paramref name="token"/> may serve, or null when it may not register.</summary>
    public TunnelEntry? ForRegistration(string token)
    {
        PruneIfDue();
        var key = TokenKey.From(token);
        if (_byToken.TryGetValue(key, out var entry))
        {
            return entry;
        }

        return _settings.Current.AllowUnlistedTokens ? _byToken.GetOrAdd(key, static k => new TunnelEntry(k, null)) : null;
    }

    /// <summary>The session ended: it no longer serves its tunnel and cannot be resumed.</summary>
    public void Detach(TunnelEntry entry, TunnelSession session)
    {
        if (_sessions.TryRemove(session.SessionId, out var registered))
        {
            var key = registered.Agent.Key;
            if (_sessionsByIdentity.AddOrUpdate(key, 0, static (_, n) => n - 1) <= 0)
            {
                _sessionsByIdentity.TryRemove(new KeyValuePair<string, int>(key, 0));
            }
        }

        entry.Detach(session, _time.GetUtcNow());
    }

    /// <summary>Sessions (connected or waiting to resume) the agents of <paramref name="identity"/> hold.</summary>
    public int SessionsOf(AgentIdentity identity) => _sessionsByIdentity.GetValueOrDefault(identity.Key);

    /// <summary>Whether <paramref name="identity"/> serves <paramref name="tunnel"/> now (an agent of it coming back).</summary>
    public bool Serves(TunnelEntry tunnel, AgentIdentity identity) =>
        tunnel.Sessions.Any(s => _sessions.TryGetValue(s.SessionId, out var registered) && registered.Agent.Key == identity.Key);

    /// <summary>Whether <paramref name="sessionId"/> is a live session of <paramref name="tunnel"/>.</summary>
    public bool HasSession(TunnelEntry tunnel, Guid sessionId) =>
        _sessions.TryGetValue(sessionId, out var registered) && ReferenceEquals(registered.Tunnel, tunnel);

    /// <summary>Sessions alive now (connected or waiting to resume).</summary>
    public int SessionCount => _sessions.Count;

    /// <summary>Remembers a new session so its agent can resume it after losing the connection.</summary>
    public void AddSession(TunnelEntry entry, TunnelSession session, AgentIdentity agent)
    {
        _sessions[session.SessionId] = new RegisteredSession(session, entry, agent, _time.GetUtcNow());
        _sessionsByIdentity.AddOrUpdate(agent.Key, 1, static (_, n) => n + 1);
    }

    /// <summary>
    /// The session <paramref name="sessionId"/> of <paramref name="tunnel"/>, ready to be resumed on the
    /// agent's new connection (its old one is dropped if the gateway had not noticed it die), or null.
    /// </summary>
    public TunnelSession? FindResumable(Guid sessionId, TunnelEntry tunnel) =>
        _sessions.TryGetValue(sessionId, out var known) && ReferenceEquals(known.Tunnel, tunnel) && known.Session.PrepareResume()
            ? known.Session
            : null;

    /// <summary>Reserves room for one more waiting request gateway-wide, or says there is none.</summary>
    public bool TryReserveQueueSlot()
    {
        if (Interlocked.Increment(ref _queued) <= _settings.Current.Queue.MaxTotal)
        {
            return true;
        }

        Interlocked.Decrement(ref _queued);
        return false;
    }

    public void ReleaseQueueSlot() => Interlocked.Decrement(ref _queued);

    /// <summary>Requests waiting for an agent, gateway-wide.</summary>
    public int QueuedRequests => Volatile.Read(ref _queued);

    /// <summary>Every tunnel the gateway knows now (named ones, and token-addressed ones it remembers).</summary>
    public IEnumerable<TunnelEntry> Tunnels => _byToken.Values;

    /// <summary>Whether requests for <paramref name="tunnel"/> should wait for its agent rather than fail at once.</summary>
    public bool MayQueue(TunnelEntry tunnel) =>
        tunnel.Sessions.Count > 0 // attached but closing: a replacement is on its way
        || (tunnel.DisconnectedAt is { } left && _time.GetUtcNow() - left <= _settings.Current.Queue.RetentionAfterDisconnect);

    /// <summary>Cancelled when the gateway begins to stop: requests waiting for an agent stop waiting.</summary>
    public CancellationToken Stopping { get; }

    /// <summary>The gateway is stopping: no request queues for an agent any more.</summary>
    public void Stop() => _stopping.Cancel();

    public void Dispose() => _stopping.Dispose();

    /// <summary>Every live session with its tunnel and agent, for status pages.</summary>
    public IEnumerable<RegisteredSession> RegisteredSessions => _sessions.Values;

    public IReadOnlyList<TunnelSession> Sessions =>
        [.. _byToken.Values.SelectMany(e => e.Sessions)];

    /// <summary>Forgets token-addressed tunnels whose agent left longer ago than the retention period.</summary>
    private void PruneIfDue()
    {
        var now = _time.GetTimestamp();
        var last = Interlocked.Read(ref _lastPrune);
        if (last != 0 && _time.GetElapsedTime(last, now) < TimeSpan.FromMinutes(1))
        {
            return;
        }

        if (Interlocked.CompareExchange(ref _lastPrune, now, last) != last)
        {
            return;
        }

        var cutoff = _time.GetUtcNow() - _settings.Current.TokenRetention;
        foreach (var (key, entry) in _byToken)
        {
            if (entry.Name is null && entry.Sessions.Count == 0 && entry.DisconnectedAt < cutoff)
            {
                _byToken.TryRemove(new KeyValuePair<TokenKey, TunnelEntry>(key, entry));
            }
        }
    }
}
