using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using WStunnel.Protocol.Http;
using WStunnel.Server.Configuration;
using WStunnel.Server.Diagnostics;
using WStunnel.Server.Forwarding;
using WStunnel.Server.Registry;
using WStunnel.Server.Security;
using Yarp.ReverseProxy.Transforms;
using Yarp.ReverseProxy.Transforms.Builder;

namespace WStunnel.Server.Addressing;

/// <summary>
/// Adds WStunnel's request transforms to every route whose cluster has <c>wstunnel://</c> destinations:
/// the request body limit for tunnels and, on the token routes, resolving the token to a tunnel and
/// stripping every trace of it before the request leaves the gateway.
/// </summary>
internal sealed class TunnelTransformProvider(
    TunnelRegistry registry,
    ClientRateLimiter rateLimiter,
    IOptions<WStunnelOptions> options,
    ILogger<TunnelTransformProvider> logger,
    IServiceProvider services) : ITransformProvider
{
    internal const string NotFoundMessage = "No tunnel is registered for this address.\n";
    internal const string TooManyUnknownMessage = "Too many requests for unknown tunnels from this address.\n";

    public void ValidateRoute(TransformRouteValidationContext context)
    {
    }

    public void ValidateCluster(TransformClusterValidationContext context)
    {
        foreach (var (id, destination) in context.Cluster.Destinations ?? new Dictionary<string, Yarp.ReverseProxy.Configuration.DestinationConfig>())
        {
            if (!IsTunnelAddress(destination.Address) || context.Cluster.ClusterId == TokenRoutesConfigProvider.ClusterId)
            {
                continue;
            }

            if (!Uri.TryCreate(destination.Address, UriKind.Absolute, out var uri) || !(registry.IsNamed(uri.Host) || ConfiguredNow(uri.Host)))
            {
                context.Errors.Add(new ArgumentException(
                    $"Destination '{id}' of cluster '{context.Cluster.ClusterId}' targets '{destination.Address}', but no tunnel of that name is configured under {WStunnelOptions.SectionName}:Tunnels."));
            }
        }
    }

    /// <summary>
    /// Whether the configuration names the tunnel now: a route and its tunnel added in one change are
    /// validated by YARP before or after the registry takes the tunnel up, whichever comes first.
    /// </summary>
    private bool ConfiguredNow(string name) =>
        services.GetService<IConfiguration>()?.GetSection($"{WStunnelOptions.SectionName}:Tunnels:{name}").Exists() == true;

    public void Apply(TransformBuilderContext context)
    {
        if (context.Cluster?.Destinations?.Values.Any(d => IsTunnelAddress(d.Address)) != true)
        {
            return;
        }

        var settings = options.Value;
        var maxBody = settings.MaxRequestBodySize;
        context.AddRequestTransform(transform =>
        {
            var feature = transform.HttpContext.Features.Get<IHttpMaxRequestBodySizeFeature>();
            if (feature is { IsReadOnly: false })
            {
                feature.MaxRequestBodySize = maxBody;
            }

            RemoveHeadersNamedInConnection(transform);
            return ValueTask.CompletedTask;
        });

        if (context.Route.Metadata?.TryGetValue(TokenRoutesConfigProvider.FormMetadataKey, out var formName) != true
            || !Enum.TryParse<AddressingForm>(formName, out var form))
        {
            return;
        }

        if (form is AddressingForm.HostLabel or AddressingForm.WholeHost)
        {
            // The Host carries the token: it must not reach the backend in X-Forwarded-Host.
            context.UseDefaultForwarders = false;
            context.AddXForwardedFor();
            context.AddXForwardedProto();
            context.AddXForwardedPrefix();
            context.AddXForwardedHost(action: ForwardedTransformActions.Remove);
        }

        context.AddRequestTransform(transform => ResolveTokenAsync(transform, form, settings));
    }

    private async ValueTask ResolveTokenAsync(RequestTransformContext transform, AddressingForm form, WStunnelOptions settings)
    {
        var token = TokenAddressing.ReadToken(transform.HttpContext, form, settings, out var rewrittenPath);
        var tunnel = token is null ? null : registry.FindByToken(token);
        if (tunnel is null)
        {
            if (token is not null && logger.IsEnabled(LogLevel.Debug))
            {
                ServerLog.UnknownToken(logger, TokenKey.From(token).Fingerprint);
            }

            var response = transform.HttpContext.Response;
            response.ContentType = "text/plain; charset=utf-8";
            if (!rateLimiter.TryUnknownToken(transform.HttpContext.Connection.RemoteIpAddress, out var retryAfter))
            {
                // Guessing tokens gets slow. Requests for known tokens are never counted or held up.
                ServerLog.UnknownTokensLimited(logger, transform.HttpContext.Connection.RemoteIpAddress);
                response.StatusCode = StatusCodes.Status429TooManyRequests;
                response.Headers.RetryAfter = ClientRateLimiter.RetryAfterSeconds(retryAfter);
                await response.WriteAsync(TooManyUnknownMessage, transform.CancellationToken).ConfigureAwait(false);
                return;
            }

            response.StatusCode = StatusCodes.Status404NotFound;
            await response.WriteAsync(NotFoundMessage, transform.CancellationToken).ConfigureAwait(false);
            return;
        }

        transform.ProxyRequest.Options.Set(TunnelRequestOptions.Tunnel, tunnel);
        var rawTarget = transform.HttpContext.Features.Get<IHttpRequestFeature>()?.RawTarget;
        switch (form)
        {
            case AddressingForm.Header:
                transform.ProxyRequest.Headers.Remove(settings.TokenHeader);
                break;
            case AddressingForm.Path:
                transform.Path = rewrittenPath!.Value;
                rawTarget = rawTarget is null ? null : TokenAddressing.StripTokenFromRawTarget(rawTarget, settings.TokenPathPrefix);
                break;
        }

        if (rawTarget is { Length: > 0 } && rawTarget[0] == '/')
        {
            transform.ProxyRequest.Options.Set(TunnelRequestOptions.Target, rawTarget);
        }
    }

    /// <summary>YARP drops <c>Connection</c> itself but not the headers it names (RFC 9110 §7.6.1); by the time the tunnel sees the request the list is gone.</summary>
    private static void RemoveHeadersNamedInConnection(RequestTransformContext transform)
    {
        var connection = transform.HttpContext.Request.Headers.Connection;
        if (connection.Count == 0)
        {
            return;
        }

        var named = HopByHopHeaders.NamedInConnection(connection.Where(v => v is not null)!);
        foreach (var name in named ?? [])
        {
            transform.ProxyRequest.Headers.Remove(name);
            transform.ProxyRequest.Content?.Headers.Remove(name);
        }
    }

    private static bool IsTunnelAddress(string? address) =>
        address is not null && address.StartsWith(TunnelNames.Scheme + "://", StringComparison.OrdinalIgnoreCase);
}
