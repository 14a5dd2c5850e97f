using System.Net;
using WStunnel.EndToEnd.Tests.Infrastructure;

namespace WStunnel.EndToEnd.Tests;

/// <summary>How the gateway's writes to a WebSocket agent look on the wire.</summary>
public sealed class WebSocketRecordTests(WebSocketTunnelFixture fixture) : IClassFixture<WebSocketTunnelFixture>, IAsyncLifetime
{
    // A full TLS 1.3 record carries 16 KiB of data; Kestrel's output pipe alone would cut every write into 4 KiB.
    private const int KestrelBlock = 4096;
    private RelayedGateway _relayed = null!;

    public async Task InitializeAsync() => _relayed = await RelayedGateway.StartAsync(fixture);

    public async Task DisposeAsync() => await _relayed.DisposeAsync();

    [Fact]
    public async Task A_large_request_body_reaches_the_agent_in_TLS_records_larger_than_Kestrels_4_KiB_blocks()
    {
        var token = "records-" + Guid.NewGuid().ToString("N");
        await using var agent = await RunningAgent.StartAsync(new Uri($"wss://localhost:{_relayed.Relay.Port}"), token, fixture.Backend.Address, fixture.Certificate.CaFile, null);
        await TunnelFixture.WaitForRegistrationAsync(_relayed.Gateway, token);

        const long size = 2_000_000;
        using var content = new PatternContent(size);
        using var response = await _relayed.Client.PostAsync($"/_token/{token}/upload", content).WaitAsync(TimeSpan.FromSeconds(60));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal($"{size} {Backend.ExpectedHash(size)}", await response.Content.ReadAsStringAsync());
        var largest = _relayed.Relay.TowardsAgentRecords.LargestApplicationRecord;
        Assert.True(largest > KestrelBlock + 64, $"the largest record towards the agent held {largest} bytes");
    }
}
