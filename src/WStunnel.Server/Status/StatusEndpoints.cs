using System.Text.Json;
using Microsoft.AspNetCore.Http;
using WStunnel.Server.Configuration;

namespace WStunnel.Server.Status;

/// <summary>
/// <c>/_stats</c> (the original's text), its JSON form and the status page — for loopback callers and
/// the configured networks only: they show where agents are.
/// </summary>
internal sealed class StatusEndpoints(GatewayStatus status, LiveSettings settings, TimeProvider time)
{

    public async Task TextAsync(HttpContext context)
    {
        if (await RefusedAsync(context).ConfigureAwait(false))
        {
            return;
        }

        context.Response.ContentType = "text/plain; charset=utf-8";
        await context.Response.WriteAsync(StatusWriters.Text(status.Snapshot(), time.GetUtcNow()), context.RequestAborted).ConfigureAwait(false);
    }

    public async Task JsonAsync(HttpContext context)
    {
        if (await RefusedAsync(context).ConfigureAwait(false))
        {
            return;
        }

        context.Response.ContentType = "application/json; charset=utf-8";
        await using var json = new Utf8JsonWriter(context.Response.Body, new JsonWriterOptions { Indented = true });
        StatusWriters.Json(json, status.Snapshot(), time.GetUtcNow());
        await json.FlushAsync(context.RequestAborted).ConfigureAwait(false);
    }

    /// <summary>The status page and its two files; 404 unless <c>WStunnel:Status:Page</c> is on.</summary>
    public async Task PageAsync(HttpContext context, string file)
    {
        if (!settings.Current.StatusPage)
        {
            context.Response.StatusCode = StatusCodes.Status404NotFound;
            return;
        }

        if (await RefusedAsync(context).ConfigureAwait(false))
        {
            return;
        }

        await StatusPage.WriteAsync(context, file).ConfigureAwait(false);
    }

    /// <summary>Answers 403 to callers that are neither local nor from an allowed network.</summary>
    public async Task<bool> RefusedAsync(HttpContext context)
    {
        if (settings.Current.StatusNetworks.Contains(context.Connection.RemoteIpAddress))
        {
            return false;
        }

        context.Response.StatusCode = StatusCodes.Status403Forbidden;
        context.Response.ContentType = "text/plain; charset=utf-8";
        await context.Response.WriteAsync("The gateway's status is available from loopback and WStunnel:Status:AllowedNetworks only.\n", context.RequestAborted).ConfigureAwait(false);
        return true;
    }
}
