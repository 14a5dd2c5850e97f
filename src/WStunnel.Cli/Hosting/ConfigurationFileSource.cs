using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Configuration.Json;
using Microsoft.Extensions.Primitives;

namespace WStunnel.Cli.Hosting;

/// <summary>
/// A JSON configuration file named on the command line, read through a <see cref="ConfigurationFileProvider"/>
/// of its own (which goes when the configuration does) and, with <c>watch</c>, read again when it changes.
/// A change that does not read — a save cut short, invalid JSON, the file gone for good — keeps what
/// was read before and is reported through <see cref="Provider.ReloadFailed"/>; .NET's own reload
/// would empty the section (a file gone) or drop the file's settings until the next good read.
/// </summary>
internal sealed class ConfigurationFileSource : JsonConfigurationSource
{
    private readonly string _path;
    private readonly bool _watch;

    public ConfigurationFileSource(string path, bool watch)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        _path = System.IO.Path.GetFullPath(path);
        _watch = watch;
        Path = System.IO.Path.GetFileName(_path);
        Optional = false;
        ReloadOnChange = false; // the provider below watches, and reloads in its own way
    }

    /// <summary>A required configuration file that is not there, as the file's watcher (3010) and SIGHUP (3007) say it.</summary>
    internal static string Missing(string? path) => $"The configuration file '{path}' is missing";

    /// <summary>A configuration file that does not parse, as the file's watcher (3010) and SIGHUP (3007) say it.</summary>
    internal static string NotJson(string? path, string detail) => $"The configuration file '{path}' is not valid JSON ({detail.TrimEnd('.')})";

    public override IConfigurationProvider Build(IConfigurationBuilder builder)
    {
        // Each provider built from this source (a configuration rebuilds them when its sources change) owns its files.
        var files = new ConfigurationFileProvider(_path);
        FileProvider = files;
        EnsureDefaults(builder);
        return new Provider(this, files, _watch);
    }

    internal sealed class Provider : JsonConfigurationProvider
    {
        private readonly ConfigurationFileProvider _files;
        private readonly IDisposable? _watch;
        private readonly Lock _reloading = new();

        public Provider(ConfigurationFileSource source, ConfigurationFileProvider files, bool watch)
            : base(source)
        {
            _files = files;
            _watch = watch ? ChangeToken.OnChange(() => files.Watch(source.Path!), Reload) : null;
        }

        /// <summary>A change to the file that was not applied, and why (the file's path included).</summary>
        public event Action<string>? ReloadFailed;

        private void Reload()
        {
            Thread.Sleep(Source.ReloadDelay); // as .NET's reload: let the writer finish (token callbacks run on the thread pool)
            lock (_reloading)
            {
                var file = _files.GetFileInfo(Source.Path!);
                try
                {
                    if (!file.Exists)
                    {
                        throw new FileNotFoundException(Missing(file.PhysicalPath));
                    }

                    using (var stream = file.CreateReadStream())
                    {
                        Load(stream); // replaces the settings only once the whole file has parsed
                    }
                }
                catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or FormatException)
                {
                    ReloadFailed?.Invoke(ex is FormatException ? NotJson(file.PhysicalPath, Innermost(ex).Message) : ex.Message.TrimEnd('.'));
                    return;
                }

                OnReload();
            }
        }

        private static Exception Innermost(Exception ex) => ex.InnerException is { } inner ? Innermost(inner) : ex;

        protected override void Dispose(bool disposing)
        {
            base.Dispose(disposing);
            if (disposing)
            {
                _watch?.Dispose();
                _files.Dispose();
            }
        }
    }
}
