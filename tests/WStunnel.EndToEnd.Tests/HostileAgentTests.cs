using System.Net;
using System.Text;
using WStunnel.EndToEnd.Tests.Infrastructure;
using WStunnel.Protocol.Frames;
using WStunnel.Protocol.Session;

namespace WStunnel.EndToEnd.Tests;

/// <summary>
/// An agent that answers what no HTTP server would: the client gets a clean 502 or a response cut
/// short, never a malformed one, and the tunnel serves its next request as before.
/// </summary>
public sealed class HostileAgentTests(TunnelFixture fixture) : IClassFixture<TunnelFixture>
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(20);

    // Headers Kestrel refuses to send, a content length the 10-byte body exceeds, and an
    // informational status, which is no response at all.
    [Theory]
    [InlineData(200, "content-length", "abc")]
    [InlineData(200, "content-length", "-1")]
    [InlineData(200, "content-length", "3")]
    [InlineData(200, "x-note", "caf\u00e9")]
    [InlineData(200, "x-note", "a\u0001b")]
    [InlineData(103, "link", "</a.css>; rel=preload")]
    public async Task An_answer_the_gateway_cannot_pass_on_gets_502(int status, string name, string value)
    {
        await using var agent = await ScriptedAgent.ConnectAsync(fixture, stream => Answer(stream, status, [new(name, value)], "0123456789"));

        using var response = await GetAsync(agent, "/bad");

        Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
        await AssertServesOnAsync(agent);
    }

    [Theory]
    [InlineData(204)]
    [InlineData(205)]
    [InlineData(304)]
    public async Task A_body_after_a_status_that_has_none_is_left_out_of_a_whole_response(int status)
    {
        await using var agent = await ScriptedAgent.ConnectAsync(fixture, stream => Answer(stream, status, [], "0123456789"));

        using var response = await GetAsync(agent, "/bad");

        Assert.Equal(status, (int)response.StatusCode);
        Assert.Equal("", await response.Content.ReadAsStringAsync().WaitAsync(Patience));
        await AssertServesOnAsync(agent);
    }

    [Fact]
    public async Task A_body_shorter_than_its_content_length_is_cut_off_not_passed_as_complete()
    {
        await using var agent = await ScriptedAgent.ConnectAsync(fixture, stream => Answer(stream, 200, [new("content-length", "20")], "0123456789"));

        using var response = await GetAsync(agent, "/bad");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        await Assert.ThrowsAsync<HttpRequestException>(() => response.Content.ReadAsStringAsync().WaitAsync(Patience));
        await AssertServesOnAsync(agent);
    }

    /// <summary>The scripted answer for <c>/bad</c>; a plain 200 for anything else.</summary>
    private static async Task Answer(TunnelStream stream, int status, List<KeyValuePair<string, string>> headers, string body)
    {
        var bad = stream.RequestHead!.PathAndQuery == "/bad";
        stream.SendResponseHead(bad ? new ResponseHead { StatusCode = status, Headers = headers } : new ResponseHead { StatusCode = 200 }, endStream: false);
        await stream.WriteAsync(Encoding.ASCII.GetBytes(bad ? body : "fine"), stream.Aborted);
        stream.Complete();
    }

    private async Task<HttpResponseMessage> GetAsync(ScriptedAgent agent, string path)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        request.Headers.Add("X-Token", agent.Token);
        return await fixture.Client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead).WaitAsync(Patience);
    }

    private async Task AssertServesOnAsync(ScriptedAgent agent)
    {
        using var response = await GetAsync(agent, "/next");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("fine", await response.Content.ReadAsStringAsync());
    }
}
