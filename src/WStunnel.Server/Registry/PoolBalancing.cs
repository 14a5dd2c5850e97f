namespace WStunnel.Server.Registry;

/// <summary>How a pooled tunnel spreads requests over its agents (YARP's policy names).</summary>
internal enum PoolBalancing
{
    /// <summary>The agent with the fewest requests in flight; ties are taken in turn.</summary>
    LeastRequests,

    /// <summary>Each agent in turn.</summary>
    RoundRobin,
}
