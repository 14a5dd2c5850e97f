// An existing YARP gateway with ordinary routes, and WStunnel added in two lines (marked below).
// The "wiki" route goes to a public server as before; the "build" route goes through the agent
// that serves the "build-agent" tunnel.
var builder = WebApplication.CreateBuilder(args);

builder.Services.AddReverseProxy()
    .LoadFromConfig(builder.Configuration.GetSection("ReverseProxy"))
    .AddWStunnel();                                   // (1) WStunnel

var app = builder.Build();
app.MapWStunnel().RequireHost("agents.example.com", "localhost"); // (2) where agents connect: their own host name (and localhost to try it out)
app.MapWStunnelStatus();                          // optional: /_stats and /_stats/json, for local callers
app.MapReverseProxy();
app.Run();
