using Microsoft.AspNetCore.Http;
using WStunnel.Server.Addressing;

namespace WStunnel.Server.Tests.Addressing;

public sealed class TokenAddressingTests
{
    [Theory]
    [InlineData("/_token/abc/rest/of/path", "abc", "/rest/of/path")]
    [InlineData("/_token/abc", "abc", "/")]
    [InlineData("/_token/abc/", "abc", "/")]
    [InlineData("/_TOKEN/abc/x", "abc", "/x")]
    public void The_path_form_yields_the_token_and_the_rest(string path, string token, string rest)
    {
        Assert.True(TokenAddressing.TryParsePath(new PathString(path), "/_token", out var parsed, out var remaining));
        Assert.Equal(token, parsed);
        Assert.Equal(rest, remaining.Value);
    }

    [Theory]
    [InlineData("/_token")]
    [InlineData("/_token/")]
    [InlineData("/_tokens/abc")]
    [InlineData("/other/abc")]
    public void Paths_without_a_token_are_not_token_paths(string path) =>
        Assert.False(TokenAddressing.TryParsePath(new PathString(path), "/_token", out _, out _));

    [Theory]
    [InlineData("/_token/abc/a%2Fb?x=%26", "/a%2Fb?x=%26")]
    [InlineData("/_token/abc?x=1", "/?x=1")]
    [InlineData("/_token/abc", "/")]
    [InlineData("/_token/a%20c/d", "/d")]
    public void The_raw_target_keeps_its_exact_bytes_without_the_token(string raw, string expected) =>
        Assert.Equal(expected, TokenAddressing.StripTokenFromRawTarget(raw, "/_token"));

    [Theory]
    [InlineData("tok.tunnel.example.com", "tok")]
    [InlineData("TOK.Tunnel.Example.COM", "TOK")]
    public void The_first_label_under_a_suffix_is_the_token(string host, string token)
    {
        Assert.True(TokenAddressing.TryParseHostLabel(host, ["other.example.com", "tunnel.example.com"], out var parsed));
        Assert.Equal(token, parsed);
    }

    [Theory]
    [InlineData("tunnel.example.com")]
    [InlineData("a.b.tunnel.example.com")]
    [InlineData("tok.tunnel.example.com.evil.net")]
    [InlineData("tok")]
    public void Hosts_not_directly_under_a_suffix_carry_no_token(string host) =>
        Assert.False(TokenAddressing.TryParseHostLabel(host, ["tunnel.example.com"], out _));
}
