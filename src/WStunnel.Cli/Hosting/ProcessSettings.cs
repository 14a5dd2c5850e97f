using System.Globalization;
using Microsoft.Extensions.Logging;

namespace WStunnel.Cli.Hosting;

/// <summary>
/// What every long-running command shares: the log format, and the original WStunnel's log file and
/// pid file (written at start, removed at exit).
/// </summary>
internal sealed record ProcessSettings(LogFormat LogFormat = LogFormat.Text, string? LogFile = null, string? PidFile = null)
{
    public void ConfigureLogging(ILoggingBuilder logging)
    {
        logging.ClearProviders();
        if (LogFormat == LogFormat.Json)
        {
            logging.AddJsonConsole(json =>
            {
                json.UseUtcTimestamp = true;
                json.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fffZ";
            });
        }
        else
        {
            logging.AddSimpleConsole(console =>
            {
                console.SingleLine = true;
                console.UseUtcTimestamp = true;
                console.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fffZ ";
            });
        }
    }

    /// <summary>
    /// Sends standard output and error to the log file and writes the pid file; the returned handle
    /// removes the pid file and closes the log. Throws <see cref="IOException"/> naming the file.
    /// </summary>
    public IDisposable Apply()
    {
        StreamWriter? log = null;
        if (LogFile is not null)
        {
            try
            {
                log = new StreamWriter(new FileStream(LogFile, FileMode.Append, FileAccess.Write, FileShare.ReadWrite)) { AutoFlush = true };
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                throw new IOException($"The log file '{LogFile}' cannot be written: {ex.Message}", ex);
            }
        }

        if (PidFile is not null)
        {
            try
            {
                File.WriteAllText(PidFile, Environment.ProcessId.ToString(CultureInfo.InvariantCulture) + "\n");
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                log?.Dispose();
                throw new IOException($"The pid file '{PidFile}' cannot be written: {ex.Message}", ex);
            }
        }

        if (log is not null)
        {
            Console.SetOut(log);
            Console.SetError(log);
        }

        return new Cleanup(PidFile, log);
    }

    private sealed class Cleanup(string? pidFile, StreamWriter? log) : IDisposable
    {
        public void Dispose()
        {
            // Only our own pid file: another instance may have taken it over meanwhile.
            if (pidFile is not null && File.Exists(pidFile) && File.ReadAllText(pidFile).Trim() == Environment.ProcessId.ToString(CultureInfo.InvariantCulture))
            {
                File.Delete(pidFile);
            }

            log?.Dispose();
        }
    }
}
