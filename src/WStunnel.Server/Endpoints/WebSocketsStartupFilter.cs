using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;

namespace WStunnel.Server.Endpoints;

/// <summary>Agents upgrade to WebSockets, which need the WebSocket middleware ahead of routing.</summary>
internal sealed class WebSocketsStartupFilter : IStartupFilter
{
    public Action<IApplicationBuilder> Configure(Action<IApplicationBuilder> next) => app =>
    {
        app.UseWebSockets();
        next(app);
    };
}
