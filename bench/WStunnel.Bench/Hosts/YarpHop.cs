using System.Net;
using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using WStunnel.Bench.Harness;
using Yarp.ReverseProxy.Configuration;
using Yarp.ReverseProxy.Forwarder;

namespace WStunnel.Bench.Hosts;

/// <summary>
/// The baseline: a plain YARP reverse proxy over HTTPS in front of the backend, nothing else — with
/// <see cref="MemoryPoolOption"/>, Kestrel's buffers from the memory pool the WStunnel gateway uses
/// (32 KiB blocks instead of Kestrel's 4 KiB), so that large bodies compare like with like. With
/// <see cref="TrustOption"/>, it forwards to an HTTPS destination whose certificate that CA signed
/// (with <see cref="Http11Option"/>, over HTTP/1.1): a second hop in front of the first, the shape of
/// the tunnel's path with a YARP hop where the agent would be.
/// </summary>
internal static class YarpHop
{
    public const string MemoryPoolOption = "--hop-memory-pool";

    public const string TrustOption = "--trust";

    public const string Http11Option = "--http11";

    // Over HTTPS YARP would negotiate HTTP/2; HTTP/1.1 connections carried 100 MiB downloads faster
    // between two hops here (bench/README, "Two YARP hops").
    private static readonly ForwarderRequestConfig Http11 = new() { Version = HttpVersion.Version11, VersionPolicy = HttpVersionPolicy.RequestVersionExact };

    public static async Task<int> RunAsync(Uri backend, string certFile, string keyFile, bool memoryPool, string? trustedCaFile, bool http11)
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
        var proxy = builder.Services.AddReverseProxy().LoadFromMemory(
            [new RouteConfig { RouteId = "all", ClusterId = "backend", Match = new RouteMatch { Path = "/{**rest}" } }],
            [new ClusterConfig { ClusterId = "backend", Destinations = new Dictionary<string, DestinationConfig> { ["backend"] = new() { Address = backend.ToString() } }, HttpRequest = http11 ? Http11 : null }]);
        if (trustedCaFile is not null)
        {
            proxy.ConfigureHttpClient((_, handler) => handler.SslOptions.CertificateChainPolicy = BenchCertificate.TrustOnly(trustedCaFile));
        }

        var app = builder.Build();
        app.MapReverseProxy();
        await app.RunAsync();
        return 0;
    }
}
