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

    // A Content-Length of 3 beside a 10-byte body: a 204 or 205 may not announce any, and a HEAD's
    // or a 304's describes a body that is not sent.
    [Theory]
    [InlineData("GET", 204)]
    [InlineData("GET", 205)]
    [InlineData("GET", 304)]
    [InlineData("HEAD", 200)]
    [InlineData("HEAD", 204)]
    public async Task A_body_after_a_head_that_has_none_is_left_out_of_a_whole_response(string method, int status)
    {
        await using var agent = await ScriptedAgent.ConnectAsync(fixture, stream => Answer(stream, status, [new("content-length", "3")], "0123456789"));

        using var response = await GetAsync(agent, "/bad", new HttpMethod(method));

        Assert.Equal(status, (int)response.StatusCode);
        Assert.Equal("", await response.Content.ReadAsStringAsync().WaitAsync(Patience));
        await AssertServesOnAsync(agent);
    }

    [Fact]
    public async Task A_body_that_ends_short_of_its_content_length_before_anything_is_sent_answers_502()
    {
        await using var agent = await ScriptedAgent.ConnectAsync(fixture, stream => Answer(stream, 404, [new("content-length", "3")], ""));

        using var response = await GetAsync(agent, "/bad");

        Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
        await AssertServesOnAsync(agent);
    }

    [Fact]
    public async Task A_body_shorter_than_its_content_length_is_cut_off_not_passed_as_complete()
    {
        await using var agent = await ScriptedAgent.ConnectAsync(fixture, stream => Answer(stream, 200, [new("content-length", "20")], "0123456789"));

        // Before or after its head, as a backend dying mid-response does through YARP.
        var error = await Record.ExceptionAsync(async () =>
        {
            using var response = await GetAsync(agent, "/bad");
            await response.Content.ReadAsStringAsync().WaitAsync(Patience);
        });

        Assert.IsType<HttpRequestException>(error);
        await AssertServesOnAsync(agent);
    }

    [Fact]
    public async Task Random_answers_reach_the_client_as_a_status_and_a_whole_or_cut_off_body()
    {
        // Each request's path names the seed its answer is drawn from, so a failure names its answer.
        await using var agent = await ScriptedAgent.ConnectAsync(fixture, stream => stream.RequestHead!.PathAndQuery.StartsWith("/r/", StringComparison.Ordinal)
            ? RandomAnswer(stream, new Random(int.Parse(stream.RequestHead.PathAndQuery[3..], System.Globalization.CultureInfo.InvariantCulture)))
            : Answer(stream, 200, [], ""));

        for (var seed = 0; seed < RandomAnswers; seed++)
        {
            var (status, headers, body, resetAfter) = Draw(new Random(seed));
            var head = new Random(seed + 1_000_000).Next(4) == 0;
            using var request = new HttpRequestMessage(head ? HttpMethod.Head : HttpMethod.Get, $"/r/{seed}");
            request.Headers.Add("X-Token", agent.Token);
            var answer = $"answer {seed} ({(head ? "HEAD" : "GET")}: {status}, {string.Join("; ", headers.Select(h => h.Key + ": " + h.Value))}, {body.Length} bytes{(resetAfter is { } r ? $", reset after {r}" : "")})";

            // An answer that breaks off (reset, or a body other than its Content-Length announced) may
            // cost the client its connection, as a backend failing mid-response does through YARP; any
            // other gets a status and, unless its head allows none, the agent's body whole.
            var bodyless = head || status is 204 or 205 or 304;
            var cut = resetAfter is not null || (!bodyless && Announced(headers) is { } announced && body.Length != announced);
            HttpResponseMessage response;
            try
            {
                response = await fixture.Client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead).WaitAsync(Patience);
            }
            catch (HttpRequestException) when (cut)
            {
                await AssertServesOnAsync(agent);
                continue;
            }
            catch (Exception ex)
            {
                throw new Xunit.Sdk.XunitException($"{answer}: no response ({ex.GetType().Name}: {ex.Message})");
            }

            using (response)
            {
                var refused = response.StatusCode == HttpStatusCode.BadGateway && status != 502;
                Assert.True(refused || (int)response.StatusCode == status, $"{answer}: status {(int)response.StatusCode}");
                try
                {
                    var received = await response.Content.ReadAsByteArrayAsync().WaitAsync(Patience);
                    var expected = refused || bodyless ? [] : body;
                    Assert.True(received.AsSpan().SequenceEqual(expected), $"{answer}: {received.Length} bytes, not the {expected.Length} expected");
                }
                catch (Exception ex) when (cut && ex is HttpRequestException or IOException)
                {
                    // Broken off after its head.
                }
            }

            await AssertServesOnAsync(agent);
        }
    }

    private const int RandomAnswers = 150;

    /// <summary>The body length a single, well-formed <c>Content-Length</c> announces.</summary>
    private static long? Announced(List<KeyValuePair<string, string>> headers) =>
        headers.Where(h => h.Key == "content-length").ToList() is [var only]
        && long.TryParse(only.Value.Trim(), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var length)
            ? length
            : null;

    private static (int Status, List<KeyValuePair<string, string>> Headers, byte[] Body, int? ResetAfter) Draw(Random random)
    {
        int[] statuses = [200, 200, 201, 204, 205, 206, 301, 304, 400, 404, 500, 599, 999, 100, 103, 101];
        (string Name, string[] Values)[] pool =
        [
            ("content-length", ["0", "3", "10", "100000", "abc", "-1", "1, 1", " 10"]),
            ("transfer-encoding", ["chunked", "gzip, chunked", "identity"]),
            ("connection", ["close", "keep-alive", "x-note", "upgrade"]),
            ("upgrade", ["websocket", "h2c"]),
            ("keep-alive", ["timeout=5"]),
            ("trailer", ["x-sum"]),
            ("content-encoding", ["gzip", "br"]),
            ("content-type", ["text/plain", "", "a/b; c=\"d\""]),
            ("set-cookie", ["a=1", "b=2; Path=/"]),
            ("location", ["/x", "http://elsewhere/", ""]),
            ("x-note", ["", "caf\u00e9", new string('n', 5000)]),
            ("date", ["yesterday"]),
            ("server", ["hostile"]),
        ];
        var headers = new List<KeyValuePair<string, string>>();
        for (var i = random.Next(0, 5); i > 0; i--)
        {
            var (name, values) = pool[random.Next(pool.Length)];
            headers.Add(new(name, values[random.Next(values.Length)]));
        }

        var body = new byte[random.Next(3) switch { 0 => 0, 1 => random.Next(1, 64), _ => random.Next(64, 200_000) }];
        random.NextBytes(body);
        int? resetAfter = random.Next(6) == 0 ? random.Next(0, body.Length + 1) : null;
        return (statuses[random.Next(statuses.Length)], headers, body, resetAfter);
    }

    private static async Task RandomAnswer(TunnelStream stream, Random random)
    {
        var (status, headers, body, resetAfter) = Draw(random);
        stream.SendResponseHead(new ResponseHead { StatusCode = status, Headers = headers }, endStream: false);
        var sent = 0;
        while (sent < body.Length && (resetAfter is null || sent < resetAfter))
        {
            var piece = Math.Min(body.Length - sent, Math.Min(random.Next(1, 40_000), (resetAfter ?? int.MaxValue) - sent));
            await stream.WriteAsync(body.AsMemory(sent, piece), stream.Aborted);
            sent += piece;
        }

        if (resetAfter is not null)
        {
            stream.Reset(ErrorCode.InternalError);
            return;
        }

        stream.Complete(random.Next(4) == 0 ? [new("x-sum", "1")] : null);
    }

    /// <summary>The scripted answer for <c>/bad</c>; a plain 200 for anything else.</summary>
    private static async Task Answer(TunnelStream stream, int status, List<KeyValuePair<string, string>> headers, string body)
    {
        var bad = stream.RequestHead!.PathAndQuery == "/bad";
        stream.SendResponseHead(bad ? new ResponseHead { StatusCode = status, Headers = headers } : new ResponseHead { StatusCode = 200 }, endStream: false);
        await stream.WriteAsync(Encoding.ASCII.GetBytes(bad ? body : "fine"), stream.Aborted);
        stream.Complete();
    }

    private async Task<HttpResponseMessage> GetAsync(ScriptedAgent agent, string path, HttpMethod? method = null)
    {
        using var request = new HttpRequestMessage(method ?? HttpMethod.Get, path);
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
