using System.Diagnostics.CodeAnalysis;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using WStunnel.Server.Endpoints;

namespace Microsoft.AspNetCore.Builder;

/// <summary>Maps the endpoints WStunnel agents connect to.</summary>
public static class WStunnelEndpointRouteBuilderExtensions
{
    /// <summary>The original WStunnel's health check answer.</summary>
    public const string HealthCheckResponse = "WSTUNSRV RUNNING";

    /// <summary>
    /// Maps the agent registration endpoint at <paramref name="pattern"/> and the health check at
    /// <c>/_health_check</c>. The returned builder applies to the agent endpoints only, so
    /// <c>.RequireHost(...)</c> or <c>.RequireAuthorization(...)</c> guard them without touching the public routes.
    /// </summary>
    public static IEndpointConventionBuilder MapWStunnel(this IEndpointRouteBuilder endpoints, [StringSyntax("Route")] string pattern = "/_tunnel")
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        ArgumentException.ThrowIfNullOrEmpty(pattern);
        var handler = endpoints.ServiceProvider.GetService<TunnelEndpointHandler>()
            ?? throw new InvalidOperationException("Call services.AddReverseProxy().AddWStunnel() before MapWStunnel().");

        if (!endpoints.DataSources.SelectMany(d => d.Endpoints).Any(e => e.DisplayName == HealthCheckEndpointName))
        {
            endpoints.MapGet("/_health_check", () => Results.Text(HealthCheckResponse, "text/plain")).WithDisplayName(HealthCheckEndpointName);
        }

        var group = endpoints.MapGroup(pattern);
        group.MapGet("", handler.HandleAsync).WithDisplayName("WStunnel agent registration");
        return group;
    }

    private const string HealthCheckEndpointName = "WStunnel health check";
}
