using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Options;
using WStunnel.Server.Security;

namespace WStunnel.Server.Status;

/// <summary>
/// <c>/_stats</c> (the original's text), its JSON form and the status page — for loopback callers and
/// the configured networks only: they show where agents are.
/// </summary>
internal sealed class StatusEndpoints(GatewayStatus status, IOptions<WStunnelOptions> options, TimeProvider time)
{
    private readonly NetworkList _allowed = new(["127.0.0.0/8", "::1", .. options.Value.Status.AllowedNetworks]);
    private readonly bool _page = options.Value.Status.Page;

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
        if (!_page)
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
        if (_allowed.Contains(context.Connection.RemoteIpAddress))
        {
            return false;
        }

        context.Response.StatusCode = StatusCodes.Status403Forbidden;
        context.Response.ContentType = "text/plain; charset=utf-8";
        await context.Response.WriteAsync("The gateway's status is available from loopback and WStunnel:Status:AllowedNetworks only.\n", context.RequestAborted).ConfigureAwait(false);
        return true;
    }
}
