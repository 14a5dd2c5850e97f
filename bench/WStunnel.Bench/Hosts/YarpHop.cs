using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Yarp.ReverseProxy.Configuration;

namespace WStunnel.Bench.Hosts;

/// <summary>
/// The baseline: a plain YARP reverse proxy over HTTPS in front of the backend, nothing else — with
/// <see cref="MemoryPoolOption"/>, Kestrel's buffers from the memory pool the WStunnel gateway uses
/// (32 KiB blocks instead of Kestrel's 4 KiB), so that large bodies compare like with like.
/// </summary>
internal static class YarpHop
{
    public const string MemoryPoolOption = "--hop-memory-pool";

    public static async Task<int> RunAsync(Uri backend, string certFile, string keyFile, bool memoryPool)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.Logging.AddFilter("Microsoft.Hosting.Lifetime", LogLevel.Information);
        using var certificate = X509Certificate2.CreateFromPemFile(certFile, keyFile);
        builder.WebHost.UseKestrelHttpsConfiguration();
        if (memoryPool)
        {
            builder.WebHost.UseWStunnelMemoryPool();
        }

        builder.WebHost.ConfigureKestrel(k =>
        {
            k.Limits.MaxRequestBodySize = null;
            k.Listen(System.Net.IPAddress.Loopback, 0, listen => listen.UseHttps(certificate));
        });
        builder.Services.AddReverseProxy().LoadFromMemory(
            [new RouteConfig { RouteId = "all", ClusterId = "backend", Match = new RouteMatch { Path = "/{**rest}" } }],
            [new ClusterConfig { ClusterId = "backend", Destinations = new Dictionary<string, DestinationConfig> { ["backend"] = new() { Address = backend.ToString() } } }]);
        var app = builder.Build();
        app.MapReverseProxy();
        await app.RunAsync();
        return 0;
    }
}
