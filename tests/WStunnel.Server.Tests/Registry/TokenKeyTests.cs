using WStunnel.Server.Registry;

namespace WStunnel.Server.Tests.Registry;

public sealed class TokenKeyTests
{
    [Fact]
    public void Equal_tokens_give_equal_keys_and_different_tokens_different_ones()
    {
        Assert.Equal(TokenKey.From("0123456789abcdef"), TokenKey.From("0123456789abcdef"));
        Assert.NotEqual(TokenKey.From("0123456789abcdef"), TokenKey.From("0123456789abcdeF"));
    }

    [Fact]
    public void The_fingerprint_is_short_and_reveals_nothing_of_the_token()
    {
        var token = "deadbeefdeadbeefdeadbeef";
        var fingerprint = TokenKey.From(token).Fingerprint;
        Assert.Equal(8, fingerprint.Length);
        Assert.DoesNotContain(fingerprint, token, StringComparison.Ordinal);
        Assert.Equal(fingerprint, TokenKey.From(token).ToString());
    }
}
