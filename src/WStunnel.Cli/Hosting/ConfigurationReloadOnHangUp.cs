using System.Text.Json;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Configuration.Json;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace WStunnel.Cli.Hosting;

/// <summary>
/// SIGHUP reads the gateway's configuration again at once — the file, and with it the tunnels' token
/// and secret files — as a daemon is expected to (systemd's <c>ExecReload</c>); the file's own watcher
/// and the minutely check of secret files would get there too, later. Unhandled, SIGHUP would end the
/// process. A change the file's watcher could not apply is logged here too.
/// </summary>
internal sealed partial class ConfigurationReloadOnHangUp : IHostedService, IDisposable
{
    private readonly IDisposable? _registration;
    private readonly ILogger _logger;

    public ConfigurationReloadOnHangUp(IConfiguration configuration, ILogger<ConfigurationReloadOnHangUp> logger)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        _logger = logger;
        if (configuration is IConfigurationRoot root)
        {
            _registration = HangUpSignal.Register(() => Reload(root, logger));
            foreach (var file in root.Providers.OfType<ConfigurationFileSource.Provider>())
            {
                file.ReloadFailed += reason => ChangeNotApplied(logger, reason);
            }
        }
    }

    private static void Reload(IConfigurationRoot root, ILogger logger)
    {
        HangUp(logger);
        try
        {
            // A JSON provider that fails to read its file is left empty until its next good read: check
            // first, so a broken or missing file leaves the configuration as it is.
            foreach (var provider in root.Providers.OfType<JsonConfigurationProvider>())
            {
                ReadableJson(provider.Source);
            }

            root.Reload();
        }
        catch (Exception ex) when (ex is IOException or InvalidDataException or UnauthorizedAccessException)
        {
            ReloadFailed(logger, ex.InnerException is { } inner ? $"{ex.Message.TrimEnd('.')}: {inner.Message.TrimEnd('.')}" : ex.Message.TrimEnd('.'));
        }
    }

    /// <summary>Throws, saying why, when the source's file is missing (and required) or is not JSON.</summary>
    private static void ReadableJson(FileConfigurationSource source)
    {
        if (source.FileProvider?.GetFileInfo(source.Path ?? "") is not { PhysicalPath: { } path } file)
        {
            return;
        }

        if (!file.Exists)
        {
            if (!source.Optional)
            {
                throw new FileNotFoundException(ConfigurationFileSource.Missing(path));
            }

            return;
        }

        using var stream = File.OpenRead(path);
        try
        {
            using var document = JsonDocument.Parse(stream, new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true });
        }
        catch (JsonException ex)
        {
            throw new InvalidDataException(ConfigurationFileSource.NotJson(path, ex.Message));
        }
    }

    public Task StartAsync(CancellationToken cancellationToken)
    {
        if (_registration is not null)
        {
            HangUpSignal.WarnIfIgnored(_logger, "read its configuration and certificate files again");
        }

        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public void Dispose() => _registration?.Dispose();

    [LoggerMessage(3006, LogLevel.Information, "SIGHUP: reading the configuration again, with the tunnels' secret files")]
    private static partial void HangUp(ILogger logger);

    [LoggerMessage(3007, LogLevel.Warning, "SIGHUP: the configuration could not be read again: {Reason}. The gateway goes on with what it had")]
    private static partial void ReloadFailed(ILogger logger, string reason);

    [LoggerMessage(3010, LogLevel.Warning, "The configuration file changed but could not be read: {Reason}. The gateway goes on with what it had until the file reads")]
    private static partial void ChangeNotApplied(ILogger logger, string reason);
}
