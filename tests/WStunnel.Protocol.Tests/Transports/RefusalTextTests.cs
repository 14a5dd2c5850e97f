using System.Net.Http.Headers;
using System.Text;
using WStunnel.Protocol.Transports;

namespace WStunnel.Protocol.Tests.Transports;

public sealed class RefusalTextTests
{
    [Fact]
    public async Task A_plain_text_reason_is_its_first_line_without_control_characters()
    {
        Assert.Equal("Too many   registrations.", await ReadAsync("Too many \u001b registrations.\r\nsecond line", "text/plain"));
    }

    [Fact]
    public async Task A_long_reason_is_cut_at_300_characters()
    {
        Assert.Equal(new string('x', 300), await ReadAsync(new string('x', 5000), "text/plain"));
    }

    [Theory]
    [InlineData("<html>Blocked</html>", "text/html")]
    [InlineData("{\"error\":\"blocked\"}", "application/json")]
    [InlineData(" \r\n", "text/plain")]
    public async Task Anything_but_a_plain_text_line_gives_no_reason(string body, string mediaType)
    {
        Assert.Null(await ReadAsync(body, mediaType));
    }

    private static Task<string?> ReadAsync(string body, string mediaType)
    {
        var content = new ByteArrayContent(Encoding.UTF8.GetBytes(body));
        content.Headers.ContentType = new MediaTypeHeaderValue(mediaType);
        return RefusalText.ReadAsync(content, CancellationToken.None);
    }
}
