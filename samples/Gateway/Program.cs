// A standalone WStunnel gateway configured entirely by the repository-root appsettings.json:
// Kestrel endpoints and certificate, YARP routes, and the WStunnel section. From the repository root:
//
//   dotnet run --project samples/Gateway -- --Kestrel:Certificates:Default:Path=gateway.pem --Kestrel:Certificates:Default:KeyPath=gateway.key
var builder = WebApplication.CreateBuilder(new WebApplicationOptions { Args = args, ContentRootPath = RepositoryRoot() });
builder.WebHost.UseWStunnelMemoryPool(); // Kestrel reads bodies from agents and clients in 32 KiB blocks, not 4 KiB

builder.Services.AddReverseProxy()
    .LoadFromConfig(builder.Configuration.GetSection("ReverseProxy"))
    .AddWStunnel();

var app = builder.Build();
app.MapWStunnel();
app.MapWStunnelStatus();
app.MapReverseProxy();
app.Run();

// The folder holding WStunnel.sln, wherever the sample is started from.
static string RepositoryRoot()
{
    for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
    {
        if (File.Exists(Path.Combine(directory.FullName, "WStunnel.sln")))
        {
            return directory.FullName;
        }
    }

    return Directory.GetCurrentDirectory();
}
