using System.Diagnostics;
using System.Net;
using System.Security.Cryptography;

namespace WStunnel.Bench.Harness;

/// <summary>One large body through a path, hash-checked, timed.</summary>
internal static class Transfer
{
    /// <summary>A client that trusts only the harness's own CA.</summary>
    public static HttpClient CreateClient(string caFile)
    {
        return new HttpClient(new SocketsHttpHandler
        {
            SslOptions = { CertificateChainPolicy = BenchCertificate.TrustOnly(caFile) },
            AutomaticDecompression = DecompressionMethods.None,
        })
        {
            Timeout = TimeSpan.FromMinutes(10),
        };
    }

    /// <summary>Downloads <paramref name="length"/> bytes; returns MB/s, or throws if a byte differs.</summary>
    public static async Task<double> DownloadAsync(HttpClient client, Uri url, string? token, long length)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, url);
        AddToken(request, token);
        var clock = Stopwatch.StartNew();
        using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead).ConfigureAwait(false);
        response.EnsureSuccessStatusCode();
        await using var body = await response.Content.ReadAsStreamAsync().ConfigureAwait(false);
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var buffer = new byte[128 * 1024];
        long total = 0;
        int read;
        while ((read = await body.ReadAsync(buffer).ConfigureAwait(false)) > 0)
        {
            hash.AppendData(buffer, 0, read);
            total += read;
        }

        var seconds = clock.Elapsed.TotalSeconds;
        var actual = Convert.ToHexStringLower(hash.GetHashAndReset());
        if (total != length || actual != Pattern.Sha256Of(length))
        {
            throw new InvalidOperationException($"download through {url} was corrupt: {total} bytes, hash {actual}");
        }

        return length / (1024.0 * 1024) / seconds;
    }

    /// <summary>Uploads <paramref name="length"/> bytes; returns MB/s, or throws if the backend did not get them all, intact.</summary>
    public static async Task<double> UploadAsync(HttpClient client, Uri url, string? token, long length)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, url) { Content = new PatternContent(length) };
        AddToken(request, token);
        var clock = Stopwatch.StartNew();
        using var response = await client.SendAsync(request).ConfigureAwait(false);
        var answer = await response.Content.ReadAsStringAsync().ConfigureAwait(false);
        var seconds = clock.Elapsed.TotalSeconds;
        if (!response.IsSuccessStatusCode || answer != $"{length} {Pattern.Sha256Of(length)}")
        {
            throw new InvalidOperationException($"upload through {url} was not received intact: {(int)response.StatusCode} {answer}");
        }

        return length / (1024.0 * 1024) / seconds;
    }

    private static void AddToken(HttpRequestMessage request, string? token)
    {
        if (token is not null)
        {
            request.Headers.Add("X-Token", token);
        }
    }

    private sealed class PatternContent(long length) : HttpContent
    {
        protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context)
        {
            for (long sent = 0; sent < length; sent += Pattern.BlockSize)
            {
                await stream.WriteAsync(Pattern.Block[..(int)Math.Min(Pattern.BlockSize, length - sent)]).ConfigureAwait(false);
            }
        }

        protected override bool TryComputeLength(out long computed)
        {
            computed = length;
            return true;
        }
    }
}
