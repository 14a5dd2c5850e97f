using System.Net;
using Microsoft.Extensions.DependencyInjection;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using WStunnel.EndToEnd.Tests.Infrastructure;

namespace WStunnel.EndToEnd.Tests;

/// <summary>What an HTTP client sends through the tunnel arrives at the backend as sent, and the answer comes back as given.</summary>
public abstract class HttpFidelityTests(TunnelFixture fixture)
{
    private HttpClient Client => fixture.Client;

    private string Via(string path) => $"/_token/{fixture.Token}{path}";

    [Theory]
    [InlineData("GET")]
    [InlineData("POST")]
    [InlineData("PUT")]
    [InlineData("PATCH")]
    [InlineData("DELETE")]
    [InlineData("OPTIONS")]
    [InlineData("PROPFIND")]
    public async Task Every_method_reaches_the_backend(string method)
    {
        using var request = new HttpRequestMessage(new HttpMethod(method), Via("/echo/m"));
        if (method is "POST" or "PUT" or "PATCH")
        {
            request.Content = new StringContent("payload of " + method);
        }

        using var response = await Client.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Contains($"method={method}\n", text, StringComparison.Ordinal);
        if (request.Content is not null)
        {
            Assert.Contains($"body=payload of {method}\n", text, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task Head_returns_headers_without_a_body()
    {
        using var response = await Client.SendAsync(new HttpRequestMessage(HttpMethod.Head, Via("/bytes/1234")));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(1234, response.Content.Headers.ContentLength);
        Assert.Empty(await response.Content.ReadAsByteArrayAsync());
    }

    [Theory]
    [InlineData(200)]
    [InlineData(201)]
    [InlineData(202)]
    [InlineData(400)]
    [InlineData(401)]
    [InlineData(404)]
    [InlineData(418)]
    [InlineData(500)]
    [InlineData(503)]
    [InlineData(599)]
    public async Task Status_codes_and_their_bodies_pass_through(int code)
    {
        using var response = await Client.GetAsync(Via($"/status/{code}"));
        Assert.Equal(code, (int)response.StatusCode);
        Assert.Equal($"status {code}", await response.Content.ReadAsStringAsync());
    }

    [Theory]
    [InlineData(204)]
    [InlineData(304)]
    public async Task Bodyless_statuses_arrive_without_a_body(int code)
    {
        using var response = await Client.GetAsync(Via($"/status/{code}"));
        Assert.Equal(code, (int)response.StatusCode);
        Assert.Empty(await response.Content.ReadAsByteArrayAsync());
    }

    [Theory]
    [InlineData("/echo/plain")]
    [InlineData("/echo/a%20b/c%2Fd/%25/caf%C3%A9")]
    [InlineData("/echo/q?x=1&y=%26z&empty=&plus=a+b&dup=1&dup=2")]
    [InlineData("/echo/odd?%7Bjson%7D=%5B1,2%5D")]
    public async Task Paths_and_query_strings_arrive_byte_exact(string target)
    {
        var text = await Client.GetStringAsync(Via(target));
        Assert.Contains($"target={target}\n", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Repeated_headers_keep_every_value_both_ways()
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, Via("/echo/h"));
        request.Headers.TryAddWithoutValidation("X-Multi", "first");
        request.Headers.TryAddWithoutValidation("X-Multi", "second");
        using var response = await Client.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        Assert.Contains("header:x-multi=first", text, StringComparison.Ordinal);
        Assert.Contains("second", text, StringComparison.Ordinal);
        Assert.Equal(["one", "two"], response.Headers.GetValues("X-Repeated").SelectMany(v => v.Split(", ")));
    }

    [Fact]
    public async Task Headers_named_in_Connection_do_not_cross_the_tunnel()
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, Via("/echo/c"));
        request.Headers.TryAddWithoutValidation("Connection", "X-Hop");
        request.Headers.TryAddWithoutValidation("X-Hop", "private to this hop");
        request.Headers.TryAddWithoutValidation("X-Kept", "kept");
        var text = await (await Client.SendAsync(request)).Content.ReadAsStringAsync();
        Assert.DoesNotContain("x-hop", text, StringComparison.Ordinal);
        Assert.Contains("header:x-kept=kept", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Response_headers_named_in_Connection_do_not_cross_the_tunnel()
    {
        using var response = await Client.GetAsync(Via("/connection-named"));
        Assert.Equal("for everyone", response.Headers.GetValues("X-Public").Single());
        Assert.False(response.Headers.Contains("X-Private"));
    }

    [Fact]
    public async Task Redirects_pass_back_unchanged()
    {
        using var response = await Client.GetAsync(Via("/redirect"));
        Assert.Equal(HttpStatusCode.Found, response.StatusCode);
        Assert.Equal("/somewhere/else?x=1", response.Headers.Location?.OriginalString);
    }

    [Fact]
    public async Task Chunked_responses_stream_through()
    {
        var body = await Client.GetByteArrayAsync(Via("/bytes/300000?chunked=1"));
        Assert.Equal(Backend.ExpectedHash(300_000), Convert.ToHexStringLower(SHA256.HashData(body)));
    }

    [Fact]
    public async Task Server_sent_events_arrive_one_by_one()
    {
        var id = Guid.NewGuid().ToString("N");
        using var response = await Client.GetAsync(Via($"/sse/{id}"), HttpCompletionOption.ResponseHeadersRead);
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
        var gate = fixture.Backend.EventGates.GetOrAdd(id, _ => new SemaphoreSlim(0));
        for (var i = 1; i <= 3; i++)
        {
            // The backend writes event i+1 only after this client has read event i: no buffering anywhere may hold it back.
            var line = await reader.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(20));
            Assert.Equal($"data: event {i}", line);
            Assert.Equal("", await reader.ReadLineAsync());
            gate.Release();
        }
    }

    [Fact]
    public async Task Response_trailers_reach_the_client()
    {
        var token = "trailers-" + Guid.NewGuid().ToString("N");
        await fixture.StartAgentAsync(token, fixture.Backend.Http2Address, o => o.TargetHttp2 = true);
        using var client = fixture.Certificate.CreateClient(fixture.GatewayAddress, HttpVersion.Version20);
        using var request = new HttpRequestMessage(HttpMethod.Get, $"/_token/{token}/trailers") { Version = HttpVersion.Version20, VersionPolicy = HttpVersionPolicy.RequestVersionExact };
        using var response = await client.SendAsync(request);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("body before trailers", await response.Content.ReadAsStringAsync());
        Assert.Equal(["abc123"], response.TrailingHeaders.GetValues("x-checksum"));
        Assert.Equal(["0"], response.TrailingHeaders.GetValues("grpc-status"));
    }

    [Fact]
    public async Task Two_hundred_concurrent_requests_with_inverse_delays_each_get_their_own_answer()
    {
        var answers = await Task.WhenAll(Enumerable.Range(0, 200).Select(i => Client.GetStringAsync(Via($"/delay/{(200 - i) * 2}"))));
        Assert.Equal(Enumerable.Range(0, 200).Select(i => $"done {(200 - i) * 2}"), answers);
    }

    [Fact]
    public async Task A_slow_reader_does_not_delay_small_requests_on_the_same_tunnel()
    {
        using var stalled = await Client.GetAsync(Via("/bytes/200000000"), HttpCompletionOption.ResponseHeadersRead);
        await using var stalledBody = await stalled.Content.ReadAsStreamAsync();
        var first = new byte[1000];
        await stalledBody.ReadExactlyAsync(first);

        // The stalled download has filled its window; requests beside it still flow.
        for (var i = 0; i < 20; i++)
        {
            var text = await Client.GetStringAsync(Via("/status/200")).WaitAsync(TimeSpan.FromSeconds(20));
            Assert.Equal("status 200", text);
        }
    }

    [Fact]
    public async Task A_client_abort_aborts_the_backend_request()
    {
        var id = Guid.NewGuid().ToString("N");
        var aborted = fixture.Backend.Aborted.GetOrAdd(id, _ => new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));
        using (var cancel = new CancellationTokenSource())
        {
            using var response = await Client.GetAsync(Via($"/hang/{id}"), HttpCompletionOption.ResponseHeadersRead, cancel.Token);
            var stream = await response.Content.ReadAsStreamAsync(cancel.Token);
            var buffer = new byte[8];
            _ = await stream.ReadAsync(buffer, cancel.Token);
            await cancel.CancelAsync();
        }

        await aborted.Task.WaitAsync(TimeSpan.FromSeconds(20));
    }

    [Fact]
    public async Task Large_download_is_hash_exact()
    {
        const long size = 100L * 1024 * 1024;
        using var response = await Client.GetAsync(Via($"/bytes/{size}"), HttpCompletionOption.ResponseHeadersRead);
        await using var body = await response.Content.ReadAsStreamAsync();
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var buffer = new byte[128 * 1024];
        long total = 0;
        int read;
        using var memory = MemoryWatch.Start();
        while ((read = await body.ReadAsync(buffer)) > 0)
        {
            hash.AppendData(buffer, 0, read);
            total += read;
        }

        Assert.Equal(size, total);
        Assert.Equal(Backend.ExpectedHash(size), Convert.ToHexStringLower(hash.GetHashAndReset()));
        memory.AssertGrowthBelow(64 * 1024 * 1024, "100 MB download");
    }

    [Theory]
    [InlineData(true, "/refuse-upload", HttpStatusCode.Unauthorized, "sign in first")]
    [InlineData(false, "/refuse-upload", HttpStatusCode.Unauthorized, "sign in first")]
    [InlineData(true, "/status/200", HttpStatusCode.OK, "status 200")]
    [InlineData(false, "/status/200", HttpStatusCode.OK, "status 200")]
    public async Task A_backend_that_answers_before_reading_an_upload_is_heard_and_the_tunnel_stays_usable(bool expectContinue, string path, HttpStatusCode status, string answer)
    {
        using var patience = new CancellationTokenSource(TimeSpan.FromSeconds(30)); // a hang fails, it does not stall the run
        var tunnel = fixture.Gateway.Services.GetRequiredService<WStunnel.Server.Registry.TunnelRegistry>().FindByToken(fixture.Token)!;
        for (var i = 0; i < 3; i++)
        {
            var sentBefore = tunnel.Traffic.BytesToAgent;
            using var request = new HttpRequestMessage(HttpMethod.Post, Via(path)) { Content = new PatternContent(16L * 1024 * 1024) };
            request.Headers.ExpectContinue = expectContinue;
            using var response = await Client.SendAsync(request, patience.Token);
            Assert.Equal(status, response.StatusCode);
            Assert.Equal(answer, await response.Content.ReadAsStringAsync(patience.Token));
            // After a final 2xx the agent's HttpClient sends the body anyway (it does so for any answer
            // below 300), so the target asks for it; after a refusal it does not.
            if (expectContinue && status == HttpStatusCode.Unauthorized)
            {
                // The target refused before asking for the body: none of it crossed the tunnel.
                Assert.Equal(sentBefore, tunnel.Traffic.BytesToAgent);
            }
        }

        Assert.Equal("status 200", await Client.GetStringAsync(Via("/status/200")));
        await Eventually.WaitUntil(() => tunnel.Sessions.Single().ActiveStreams == 0, "the tunnel streams to be freed");
    }

    [Fact]
    public async Task A_backend_failing_mid_upload_gets_a_502_and_frees_the_tunnel_stream()
    {
        using var patience = new CancellationTokenSource(TimeSpan.FromSeconds(30)); // a hang fails, it does not stall the run
        using var request = new HttpRequestMessage(HttpMethod.Post, Via("/abort-upload")) { Content = new PatternContent(16L * 1024 * 1024) };
        using var response = await Client.SendAsync(request, patience.Token);
        Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
        await response.Content.ReadAsStringAsync(patience.Token);

        // The agent answered for its target while the body still came: the gateway must stop sending
        // it, or the stream (and the client's request) would wait for credit until the session ends.
        var session = fixture.Gateway.Services.GetRequiredService<WStunnel.Server.Registry.TunnelRegistry>().FindByToken(fixture.Token)!.Sessions.Single();
        await Eventually.WaitUntil(() => session.ActiveStreams == 0, "the tunnel stream to be freed");
    }

    [Fact]
    public async Task An_upload_expecting_100_continue_is_sent_when_the_backend_asks_for_it()
    {
        const long size = 8L * 1024 * 1024;
        using var content = new PatternContent(size);
        using var request = new HttpRequestMessage(HttpMethod.Post, Via("/upload")) { Content = content };
        request.Headers.ExpectContinue = true;
        using var response = await Client.SendAsync(request);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal($"{size} {Backend.ExpectedHash(size)}", await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Large_upload_is_hash_exact()
    {
        const long size = 100L * 1024 * 1024;
        using var memory = MemoryWatch.Start();
        using var content = new PatternContent(size);
        using var response = await Client.PostAsync(Via("/upload"), content);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal($"{size} {Backend.ExpectedHash(size)}", await response.Content.ReadAsStringAsync());
        memory.AssertGrowthBelow(64 * 1024 * 1024, "100 MB upload");
    }
}

public sealed class HttpFidelityTestsOverWebSocket(WebSocketTunnelFixture fixture) : HttpFidelityTests(fixture), IClassFixture<WebSocketTunnelFixture>;

public sealed class HttpFidelityTestsOverLongPoll(LongPollTunnelFixture fixture) : HttpFidelityTests(fixture), IClassFixture<LongPollTunnelFixture>;
