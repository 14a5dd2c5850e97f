// An agent hosted as a worker service. Settings bind from the WStunnelAgent section of
// appsettings.json or the environment, e.g.
//
//   WStunnelAgent__Server=wss://gateway.example.com WStunnelAgent__TokenFile=/etc/wstunnel/token \
//   WStunnelAgent__Target=http://localhost:8080 dotnet run --project samples/Agent
var builder = Host.CreateApplicationBuilder(args);
builder.Services.AddWStunnelAgent();
builder.Build().Run();
