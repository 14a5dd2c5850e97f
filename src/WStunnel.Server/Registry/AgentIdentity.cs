using System.Net;

namespace WStunnel.Server.Registry;

/// <summary>
/// Who an admitted agent is: its client certificate when the gateway requires one, otherwise its
/// network address (an IPv6 client by its /64). Caps per identity count against <see cref="Key"/>.
/// </summary>
/// <param name="Key">Stable key: <c>cert:</c> and the certificate identity (issuer and names, the same across renewals), or <c>address:</c> and the address.</param>
/// <param name="Address">The address the agent connected from.</param>
/// <param name="Certificate">The certificate's subject and thumbprint, for logs and status; null without one.</param>
internal sealed record AgentIdentity(string Key, IPAddress? Address, string? Certificate);
