using System.Security.Cryptography;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using WStunnel.Server.Endpoints;

namespace WStunnel.Server.Tests.Endpoints;

public sealed class TlsBufferReleaseTests
{
    [Fact]
    public async Task Apply_AnAuthenticatedServerConnection_SetsReleaseBuffersAndDataStillFlowsBothWays()
    {
        await using var pair = await TlsPair.ConnectAsync();

        var applied = Release(enabled: true).Apply(pair.Server);

        // On Linux .NET's TLS is OpenSSL and the mode must take; anywhere else there is nothing to set.
        Assert.Equal(OperatingSystem.IsLinux(), applied);

        // Buffers freed after each record come back on demand: records of every size still arrive intact.
        foreach (var size in new[] { 1, 16 * 1024, 100_000 })
        {
            var sent = RandomNumberGenerator.GetBytes(size);
            var toServer = new byte[size];
            await pair.Client.WriteAsync(sent);
            await pair.Server.ReadExactlyAsync(toServer);
            Assert.Equal(sent, toServer);

            var toClient = new byte[size];
            await pair.Server.WriteAsync(sent);
            await pair.Client.ReadExactlyAsync(toClient);
            Assert.Equal(sent, toClient);
        }
    }

    [Fact]
    public async Task Apply_WithTheOptionOff_LeavesTheConnectionAlone()
    {
        await using var pair = await TlsPair.ConnectAsync();

        Assert.False(Release(enabled: false).Apply(pair.Server));
    }

    [Fact]
    public void Apply_WithoutTls_DoesNothing()
    {
        Assert.False(Release(enabled: true).Apply(null));
    }

    [Fact]
    public async Task Apply_AClosedConnection_DoesNothing()
    {
        var pair = await TlsPair.ConnectAsync();
        await pair.DisposeAsync();

        Assert.False(Release(enabled: true).Apply(pair.Server));
    }

    private static TlsBufferRelease Release(bool enabled) =>
        new(Options.Create(new WStunnelOptions { ReleaseIdleTlsBuffers = enabled }), NullLogger<TlsBufferRelease>.Instance);
}
