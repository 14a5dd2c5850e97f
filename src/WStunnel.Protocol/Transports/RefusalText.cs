using System.Text;

namespace WStunnel.Protocol.Transports;

/// <summary>
/// The reason a gateway gave in the body of a refused registration, fit for the agent's log: the first
/// line of a short <c>text/plain</c> body, control characters removed. Anything else — a proxy's HTML
/// error page, a body that does not arrive — gives nothing.
/// </summary>
internal static class RefusalText
{
    private const int MaxBytes = 1024;
    private const int MaxChars = 300;

    public static async Task<string?> ReadAsync(HttpContent? content, CancellationToken cancellationToken)
    {
        if (content?.Headers.ContentType?.MediaType is not "text/plain")
        {
            return null;
        }

        try
        {
            var buffer = new byte[MaxBytes];
            await using var body = await content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
            var length = await body.ReadAtLeastAsync(buffer, MaxBytes, throwOnEndOfStream: false, cancellationToken).ConfigureAwait(false);
            return Clean(Encoding.UTF8.GetString(buffer, 0, length));
        }
        catch (Exception ex) when (ex is IOException or HttpRequestException or OperationCanceledException)
        {
            return null; // the refusal itself is what counts; its reason is a courtesy
        }
    }

    internal static string? Clean(string text)
    {
        var end = text.IndexOfAny(['\r', '\n']);
        var line = end >= 0 ? text[..end] : text;
        var cleaned = new StringBuilder(Math.Min(line.Length, MaxChars));
        foreach (var c in line)
        {
            if (cleaned.Length == MaxChars)
            {
                break;
            }

            cleaned.Append(char.IsControl(c) ? ' ' : c);
        }

        var result = cleaned.ToString().Trim();
        return result.Length == 0 ? null : result;
    }
}
