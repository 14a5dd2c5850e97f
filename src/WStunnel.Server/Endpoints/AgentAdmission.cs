using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using WStunnel.Protocol.Transports;
using WStunnel.Server.Diagnostics;
using WStunnel.Server.Registry;
using WStunnel.Server.Security;

namespace WStunnel.Server.Endpoints;

/// <summary>The registration rules every tunnel endpoint applies, whatever the transport.</summary>
internal sealed class AgentAdmission(
    TunnelRegistry registry,
    ClientRateLimiter rateLimiter,
    AgentCertificateValidator certificates,
    GatewayMetrics metrics,
    IOptions<WStunnelOptions> options,
    IHostApplicationLifetime lifetime,
    ILogger<AgentAdmission> logger)
{
    private readonly WStunnelOptions _options = options.Value;

    /// <summary>The tunnel the agent may serve and who the agent is, or null after answering why it may not.</summary>
    public async Task<(TunnelEntry Tunnel, AgentIdentity Agent)?> AdmitAsync(HttpContext context)
    {
        var admitted = await DecideAsync(context).ConfigureAwait(false);
        metrics.Registration(admitted is null ? context.Response.StatusCode.ToString(System.Globalization.CultureInfo.InvariantCulture) : "accepted");
        return admitted;
    }

    private async Task<(TunnelEntry Tunnel, AgentIdentity Agent)?> DecideAsync(HttpContext context)
    {
        if (lifetime.ApplicationStopping.IsCancellationRequested)
        {
            context.Response.Headers.RetryAfter = "5";
            await RefuseAsync(context, StatusCodes.Status503ServiceUnavailable, "The gateway is shutting down.").ConfigureAwait(false);
            return null;
        }

        if (!rateLimiter.TryRegistration(context.Connection.RemoteIpAddress, out var retryAfter))
        {
            context.Response.Headers.RetryAfter = ClientRateLimiter.RetryAfterSeconds(retryAfter);
            await RefuseAsync(context, StatusCodes.Status429TooManyRequests,
                $"Too many agent registrations from this address (WStunnel:RateLimits:RegistrationsPerMinute is {rateLimiter.RegistrationsPerMinute}).").ConfigureAwait(false);
            return null;
        }

        var certificate = certificates.Required ? await certificates.PresentedAsync(context).ConfigureAwait(false) : null;
        if (certificates.Required && certificates.Problem(certificate) is { } problem)
        {
            ServerLog.AgentCertificateRejected(logger, context.Connection.RemoteIpAddress, problem);
            await WriteRefusalAsync(context, StatusCodes.Status403Forbidden,
                "This gateway admits only agents with a client certificate it trusts (WStunnel:AgentCertificates).").ConfigureAwait(false);
            return null;
        }

        var token = context.Request.Headers[AgentHeaders.Token].ToString().Trim();
        if (token.Length == 0)
        {
            await RefuseAsync(context, StatusCodes.Status400BadRequest, $"Missing {AgentHeaders.Token} header: the agent must announce its token.").ConfigureAwait(false);
            return null;
        }

        if (token.Length < _options.MinimumTokenLength)
        {
            await RefuseAsync(context, StatusCodes.Status400BadRequest, $"Token too short: tokens must be at least {_options.MinimumTokenLength} characters.").ConfigureAwait(false);
            return null;
        }

        var tunnel = registry.ForRegistration(token);
        if (tunnel is null)
        {
            await RefuseAsync(context, StatusCodes.Status403Forbidden, "This gateway only accepts the tokens it is configured with.").ConfigureAwait(false);
            return null;
        }

        // Checked before anything else touches the tunnel: a wrong secret must not disturb the agent serving it.
        if (tunnel.AgentSecretHash is { } expected && !SecretMatches(context, expected))
        {
            ServerLog.AgentSecretRejected(logger, tunnel.DisplayName, context.Connection.RemoteIpAddress);
            await WriteRefusalAsync(context, StatusCodes.Status403Forbidden, "The agent secret for this tunnel is missing or wrong.").ConfigureAwait(false);
            return null;
        }

        if (certificate is not null && !IsOwnedBy(tunnel, certificate))
        {
            ServerLog.AgentIdentityRejected(logger, tunnel.DisplayName, AgentCertificateValidator.Describe(certificate), context.Connection.RemoteIpAddress);
            await WriteRefusalAsync(context, StatusCodes.Status403Forbidden, "This tunnel belongs to another agent identity.").ConfigureAwait(false);
            return null;
        }

        var remote = context.Connection.RemoteIpAddress;
        var agent = certificate is null
            ? new AgentIdentity("address:" + ClientRateLimiter.PartitionOf(remote), remote, null)
            : new AgentIdentity("cert:" + AgentCertificateValidator.IdentityOf(certificate), remote, AgentCertificateValidator.Describe(certificate));

        // An agent resuming its session holds its place already: no limit below applies to it.
        var resuming = Guid.TryParse(context.Request.Headers[AgentHeaders.Resume].ToString(), out var sessionId) && registry.HasSession(tunnel, sessionId);
        if (resuming)
        {
            return (tunnel, agent);
        }

        if (tunnel.IsPool && tunnel.ConnectedAgents >= tunnel.MaxAgents)
        {
            context.Response.Headers.RetryAfter = "30";
            await RefuseAsync(context, StatusCodes.Status503ServiceUnavailable,
                $"The pool of tunnel '{tunnel.Name}' is full (WStunnel:Tunnels:{tunnel.Name}:MaxAgents is {tunnel.MaxAgents}).").ConfigureAwait(false);
            return null;
        }

        // A single-agent tunnel is taken over only by its own identity (a restarted agent); another
        // waits until the connected agent is gone — traffic is never silently moved or shared.
        var replacingOwn = !tunnel.IsPool && registry.Serves(tunnel, agent);
        if (!tunnel.IsPool && !replacingOwn && tunnel.ConnectedAgents > 0)
        {
            ServerLog.TunnelTakeoverRefused(logger, tunnel.DisplayName, agent.Certificate ?? "(no certificate)", agent.Address);
            await WriteRefusalAsync(context, StatusCodes.Status409Conflict,
                "Another agent serves this tunnel. To let several agents serve it, make it a pool (WStunnel:Tunnels:NAME:MaxAgents).").ConfigureAwait(false);
            return null;
        }

        var perIdentity = _options.Limits.MaxTunnelsPerIdentity;
        if (perIdentity > 0 && !replacingOwn && registry.SessionsOf(agent) >= perIdentity)
        {
            await RefuseAsync(context, StatusCodes.Status403Forbidden,
                $"This agent identity serves its maximum of {perIdentity} tunnels (WStunnel:Limits:MaxTunnelsPerIdentity).").ConfigureAwait(false);
            return null;
        }

        // An agent coming back to its own tunnel (reconnecting, resuming) never counts against the limit.
        if ((tunnel.Sessions.Count == 0 || tunnel.IsPool) && registry.SessionCount >= _options.Limits.MaxTunnels)
        {
            context.Response.Headers.RetryAfter = "30";
            await RefuseAsync(context, StatusCodes.Status503ServiceUnavailable,
                $"This gateway serves its maximum of {_options.Limits.MaxTunnels} tunnels (WStunnel:Limits:MaxTunnels).").ConfigureAwait(false);
            return null;
        }

        return (tunnel, agent);
    }

    /// <summary>
    /// Named tunnels admit the identities configured for them (any trusted one when none are); a
    /// token-addressed tunnel belongs to the identity that registered it first.
    /// </summary>
    private static bool IsOwnedBy(TunnelEntry tunnel, X509Certificate2 certificate)
    {
        if (tunnel.Name is not null)
        {
            return tunnel.AllowedIdentities.Count == 0 || AgentCertificateValidator.Matches(certificate, tunnel.AllowedIdentities);
        }

        var identity = AgentCertificateValidator.IdentityOf(certificate);
        return tunnel.ClaimOwner(identity) == identity;
    }

    /// <summary>Compares hashes in constant time, so the answer's timing says nothing about the secret.</summary>
    private static bool SecretMatches(HttpContext context, byte[] expected)
    {
        var presented = context.Request.Headers[AgentHeaders.Secret].ToString().Trim();
        return CryptographicOperations.FixedTimeEquals(SHA256.HashData(Encoding.UTF8.GetBytes(presented)), expected);
    }

    public async Task RefuseAsync(HttpContext context, int status, string message)
    {
        ServerLog.RegistrationRefused(logger, context.Connection.RemoteIpAddress, status, message);
        await WriteRefusalAsync(context, status, message).ConfigureAwait(false);
    }

    /// <summary>The answer alone, for refusals that log a line of their own.</summary>
    private static async Task WriteRefusalAsync(HttpContext context, int status, string message)
    {
        context.Response.StatusCode = status;
        context.Response.ContentType = "text/plain; charset=utf-8";
        await context.Response.WriteAsync(message + "\n", context.RequestAborted).ConfigureAwait(false);
    }
}
