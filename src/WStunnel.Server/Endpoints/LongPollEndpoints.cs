using System.Collections.Concurrent;
using System.Globalization;
using System.Security.Cryptography;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core.Features;
using Microsoft.Extensions.Options;
using WStunnel.Protocol.Transports;
using WStunnel.Protocol.Transports.LongPoll;
using WStunnel.Server.Registry;

namespace WStunnel.Server.Endpoints;

/// <summary>
/// Agents that cannot use WebSockets: plain HTTPS requests under the same endpoint, with the same
/// admission rules. A connection lives in memory here for as long as its session does.
/// </summary>
internal sealed class LongPollEndpoints(AgentAdmission admission, TunnelSessionRunner runner, TlsBufferRelease tlsBuffers, IOptions<WStunnelOptions> options)
{
    private readonly ConcurrentDictionary<string, Connection> _connections = new(StringComparer.Ordinal);

    public async Task ConnectAsync(HttpContext context)
    {
        if (await admission.AdmitAsync(context).ConfigureAwait(false) is not var (tunnel, agent))
        {
            return;
        }

        // The id is a capability: unguessable, and only valid together with the same token.
        var id = Base64Url(RandomNumberGenerator.GetBytes(24));
        var transport = new LongPollServerTransport(id);
        var connection = new Connection(transport, tunnel.Key);
        _connections[id] = connection;
        _ = RunAsync(tunnel, agent, connection);

        context.Response.Headers[LongPollProtocol.ConnectionHeader] = id;
        context.Response.Headers[LongPollProtocol.PollTimeoutHeader] = ((long)options.Value.LongPollTimeout.TotalMilliseconds).ToString(CultureInfo.InvariantCulture);
        context.Response.StatusCode = StatusCodes.Status200OK;
    }

    public async Task PollAsync(HttpContext context)
    {
        var connection = await FindAsync(context).ConfigureAwait(false);
        if (connection is null || !TryReadOffset(context, out var acknowledged))
        {
            return;
        }

        DisableBuffering(context);

        // An agent's polls hold its connection open, mostly waiting.
        tlsBuffers.Apply(context.Features.Get<ISslStreamFeature>()?.SslStream);
        var result = await connection.Transport.PollAsync(acknowledged, options.Value.LongPollTimeout, async (offset, pieces) =>
        {
            var response = context.Response;
            response.StatusCode = StatusCodes.Status200OK;
            response.ContentType = LongPollProtocol.ContentType;
            response.ContentLength = pieces.Sum(p => (long)p.Length);
            response.Headers[LongPollProtocol.OffsetHeader] = offset.ToString(CultureInfo.InvariantCulture);
            response.Headers.CacheControl = "no-store";
            foreach (var piece in pieces)
            {
                await response.Body.WriteAsync(piece, context.RequestAborted).ConfigureAwait(false);
            }
        }, context.RequestAborted).ConfigureAwait(false);

        switch (result)
        {
            case PollResult.BadOffset:
                await admission.RefuseAsync(context, StatusCodes.Status409Conflict, "The poll's offset does not match this connection.").ConfigureAwait(false);
                break;
            case PollResult.Closed:
                await admission.RefuseAsync(context, StatusCodes.Status410Gone, "The long-poll connection has ended.").ConfigureAwait(false);
                break;
        }
    }

    public async Task SendAsync(HttpContext context)
    {
        var connection = await FindAsync(context).ConfigureAwait(false);
        if (connection is null || !TryReadOffset(context, out var offset))
        {
            return;
        }

        bool accepted;
        try
        {
            accepted = await connection.Transport.AcceptAsync(offset, context.Request.Body, context.RequestAborted).ConfigureAwait(false);
        }
        catch (InvalidOperationException)
        {
            // The session ended while the bytes arrived.
            await admission.RefuseAsync(context, StatusCodes.Status410Gone, "The long-poll connection has ended.").ConfigureAwait(false);
            return;
        }

        if (!accepted)
        {
            await admission.RefuseAsync(context, StatusCodes.Status409Conflict, "The send's offset leaves a gap in this connection.").ConfigureAwait(false);
            return;
        }

        context.Response.StatusCode = StatusCodes.Status204NoContent;
    }

    public async Task CloseAsync(HttpContext context)
    {
        var connection = await FindAsync(context).ConfigureAwait(false);
        if (connection is not null)
        {
            await connection.Transport.CloseAsync(context.RequestAborted).ConfigureAwait(false);
            context.Response.StatusCode = StatusCodes.Status204NoContent;
        }
    }

    private async Task RunAsync(TunnelEntry tunnel, AgentIdentity agent, Connection connection)
    {
        try
        {
            await runner.RunAsync(tunnel, agent, connection.Transport, connection.Transport.Closed).ConfigureAwait(false);
        }
        finally
        {
            _connections.TryRemove(connection.Transport.ConnectionId, out _);
            await connection.Transport.DisposeAsync().ConfigureAwait(false);
        }
    }

    private async Task<Connection?> FindAsync(HttpContext context)
    {
        var id = context.Request.Headers[LongPollProtocol.ConnectionHeader].ToString();
        var token = context.Request.Headers[AgentHeaders.Token].ToString().Trim();
        if (_connections.TryGetValue(id, out var connection) && TokenKey.From(token) == connection.Token)
        {
            return connection;
        }

        await admission.RefuseAsync(context, StatusCodes.Status404NotFound, "No such long-poll connection: connect again.").ConfigureAwait(false);
        return null;
    }

    private static bool TryReadOffset(HttpContext context, out long offset)
    {
        if (long.TryParse(context.Request.Headers[LongPollProtocol.OffsetHeader].ToString(), NumberStyles.None, CultureInfo.InvariantCulture, out offset))
        {
            return true;
        }

        context.Response.StatusCode = StatusCodes.Status400BadRequest;
        return false;
    }

    /// <summary>Poll answers must reach the agent as soon as they are written, not when a buffer fills.</summary>
    private static void DisableBuffering(HttpContext context) => context.Features.Get<IHttpResponseBodyFeature>()?.DisableBuffering();

    private static string Base64Url(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    private sealed record Connection(LongPollServerTransport Transport, TokenKey Token);
}
