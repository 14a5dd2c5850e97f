using System.Diagnostics;
using System.Text.RegularExpressions;

namespace WStunnel.EndToEnd.Tests.Infrastructure;

/// <summary>Debian's <c>chromium</c>, headless: loads a page, lets its scripts run, returns the DOM.</summary>
internal static partial class HeadlessChromium
{
    public static async Task<string> DumpDomAsync(Uri page)
    {
        var profile = Directory.CreateTempSubdirectory("wstunnel-chromium-").FullName;
        try
        {
            return await DumpDomAsync(page, profile);
        }
        finally
        {
            Directory.Delete(profile, recursive: true);
        }
    }

    private static async Task<string> DumpDomAsync(Uri page, string profile)
    {
        var start = new ProcessStartInfo("chromium")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in (string[])[
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
            "--ignore-certificate-errors", // the test's own CA; the page, not TLS, is under test
            $"--user-data-dir={profile}",
            "--virtual-time-budget=5000", // the page polls every 2 s: three polls, so a rate can be computed
            "--dump-dom", page.ToString()])
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start) ?? throw new InvalidOperationException("chromium did not start (apt-get install chromium)");
        var output = process.StandardOutput.ReadToEndAsync();
        var errors = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(90));
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        finally
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
            }
        }

        var dom = await output;
        Assert.True(process.ExitCode == 0 && dom.Length > 0, $"chromium exited {process.ExitCode}: {await errors}");
        return dom;
    }

    /// <summary>The text of each cell of the table row whose <c>data-tunnel</c> is <paramref name="tunnel"/>.</summary>
    public static string[] Row(string dom, string tunnel)
    {
        var row = Regex.Match(dom, $"<tr[^>]*data-tunnel=\"{Regex.Escape(tunnel)}\"[^>]*>(.*?)</tr>", RegexOptions.Singleline);
        Assert.True(row.Success, $"no row for {tunnel} in:\n{dom}");
        return [.. Cell().Matches(row.Groups[1].Value).Select(m => System.Net.WebUtility.HtmlDecode(m.Groups[1].Value))];
    }

    [GeneratedRegex("<td>(.*?)</td>", RegexOptions.Singleline)]
    private static partial Regex Cell();
}
