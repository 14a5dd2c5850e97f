using System.Net;
using WStunnel.EndToEnd.Tests.Infrastructure;

namespace WStunnel.EndToEnd.Tests;

/// <summary>How the gateway's writes to a WebSocket agent look on the wire.</summary>
public sealed class WebSocketRecordTests(WebSocketTunnelFixture fixture) : IClassFixture<WebSocketTunnelFixture>
{
    // Kestrel's memory blocks are 4 KiB; a record adds its tag and type (17 bytes in TLS 1.3), never 64.
    private const int KestrelBlock = 4096;
    private const int RecordOverhead = 64;

    [Fact]
    public async Task A_large_request_body_reaches_the_agent_in_TLS_records_larger_than_Kestrels_4_KiB_blocks()
    {
        var largest = await LargestRecordTowardsTheAgentAsync(writeThrough: null);

        Assert.True(largest > KestrelBlock + RecordOverhead, $"the largest record towards the agent held {largest} bytes");
    }

    [Fact]
    public async Task With_TlsWriteThrough_off_the_gateway_writes_through_Kestrels_output_in_4_KiB_records()
    {
        var largest = await LargestRecordTowardsTheAgentAsync(writeThrough: false);

        Assert.InRange(largest, KestrelBlock, KestrelBlock + RecordOverhead);
    }

    /// <summary>Uploads 2 MB through a tunnel whose agent dials through a relay; returns the largest TLS record the relay saw towards the agent.</summary>
    private async Task<int> LargestRecordTowardsTheAgentAsync(bool? writeThrough)
    {
        await using var relayed = await RelayedGateway.StartAsync(fixture, builder =>
        {
            if (writeThrough is { } value)
            {
                builder.Configuration["WStunnel:TlsWriteThrough"] = value ? "true" : "false";
            }
        });
        var token = "records-" + Guid.NewGuid().ToString("N");
        await using var agent = await RunningAgent.StartAsync(new Uri($"wss://localhost:{relayed.Relay.Port}"), token, fixture.Backend.Address, fixture.Certificate.CaFile, null);
        await TunnelFixture.WaitForRegistrationAsync(relayed.Gateway, token);

        const long size = 2_000_000;
        using var content = new PatternContent(size);
        using var response = await relayed.Client.PostAsync($"/_token/{token}/upload", content).WaitAsync(TimeSpan.FromSeconds(60));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal($"{size} {Backend.ExpectedHash(size)}", await response.Content.ReadAsStringAsync());
        return relayed.Relay.TowardsAgentRecords.LargestApplicationRecord;
    }
}
