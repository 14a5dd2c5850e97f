using Microsoft.Extensions.FileProviders;
using Microsoft.Extensions.FileProviders.Physical;
using Microsoft.Extensions.Primitives;

namespace WStunnel.Cli.Hosting;

/// <summary>
/// Reads the gateway's configuration file and says when it changes, watching its directory alone.
/// .NET's own file provider watches the directory with every directory beneath it, one inotify watch
/// each, all added at start: a file kept at a repository's root or in a home directory would have the
/// gateway watch thousands of directories and wake for every file written in them. Here a change
/// counts when an event names the file, or when the file it reaches through symbolic links is no
/// longer the one last seen (a Kubernetes ConfigMap swaps a link to its directory, not the file; a
/// link to a file elsewhere has that file's directory watched too).
/// Where the directory cannot be watched (inotify's limits reached), the file is checked every few
/// seconds instead; so it is while the file is gone, since its directory may be gone with it, and a
/// deleted directory's watch hears nothing more, not even once a directory of that name is back:
/// when the file is back, the directory is watched anew.
/// </summary>
internal sealed class ConfigurationFileProvider : IFileProvider, IDisposable
{
    private static readonly TimeSpan DefaultPollInterval = TimeSpan.FromSeconds(4);

    private readonly PhysicalFileProvider _files; // reads only: it watches nothing unless asked to, and it never is
    private readonly string _path;
    private readonly TimeSpan _pollInterval;
    private readonly Func<string, FileSystemWatcher> _createWatcher;
    private readonly Lock _lock = new();
    private CancellationTokenSource _changed = new();
    private FileSystemWatcher? _watcher;
    private FileSystemWatcher? _targetWatcher;
    private ITimer? _poll;
    private ITimer? _whileMissing;
    private FileStamp _seen;
    private bool _disposed;

    public ConfigurationFileProvider(string path)
        : this(path, DefaultPollInterval, static directory => new FileSystemWatcher(directory))
    {
    }

    /// <summary>For tests: how often to poll, and the watcher (which may fail, as inotify's limits would make it).</summary>
    internal ConfigurationFileProvider(string path, TimeSpan pollInterval, Func<string, FileSystemWatcher> createWatcher)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentNullException.ThrowIfNull(createWatcher);
        _pollInterval = pollInterval;
        _createWatcher = createWatcher;
        _path = Path.GetFullPath(path);
        FileName = Path.GetFileName(_path);
        _files = new PhysicalFileProvider(Path.GetDirectoryName(_path)!, ExclusionFilters.None); // a file named on the command line is read even if hidden
    }

    /// <summary>The file's name: the path its configuration source asks for.</summary>
    public string FileName { get; }

    public IFileInfo GetFileInfo(string subpath) => _files.GetFileInfo(subpath);

    public IDirectoryContents GetDirectoryContents(string subpath) => _files.GetDirectoryContents(subpath);

    public IChangeToken Watch(string filter)
    {
        ArgumentNullException.ThrowIfNull(filter);
        if (!string.Equals(filter.TrimStart('/', Path.DirectorySeparatorChar), FileName, StringComparison.Ordinal))
        {
            return NullChangeToken.Singleton; // this provider serves one file
        }

        lock (_lock)
        {
            if (_disposed)
            {
                return NullChangeToken.Singleton;
            }

            if (_watcher is null && _poll is null)
            {
                Start();
            }

            return new CancellationChangeToken(_changed.Token);
        }
    }

    private void Start()
    {
        _seen = FileStamp.Of(_path);
        try
        {
            _watcher = Watch(_files.Root, OnEvent, onError: Changed); // lost events may have been the file's
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            _poll = Polling();
            return;
        }

        _targetWatcher = WatchLinkTarget();
    }

    /// <summary>
    /// Where the file is a link to a file in another directory, that directory too: an edit made where
    /// the file lives shows only there. Its events are checked against the file as last seen. Best
    /// effort — the link's own directory is watched either way, and SIGHUP reads the file regardless.
    /// </summary>
    private FileSystemWatcher? WatchLinkTarget()
    {
        try
        {
            var directory = File.ResolveLinkTarget(_path, returnFinalTarget: true) is { } target ? Path.GetDirectoryName(target.FullName) : null;
            return directory is null || string.Equals(directory, Path.TrimEndingDirectorySeparator(_files.Root), StringComparison.Ordinal)
                ? null
                : Watch(directory, _ => Check(), onError: Check);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ArgumentException)
        {
            return null;
        }
    }

    /// <summary>A watch on <paramref name="directory"/> alone, passing on the names its events are about.</summary>
    private FileSystemWatcher Watch(string directory, Action<string?> onEvent, Action onError)
    {
        var watcher = _createWatcher(directory);
        try
        {
            watcher.IncludeSubdirectories = false;
            watcher.NotifyFilter = NotifyFilters.FileName | NotifyFilters.DirectoryName | NotifyFilters.LastWrite | NotifyFilters.Size | NotifyFilters.CreationTime;
            watcher.Changed += (_, e) => onEvent(e.Name);
            watcher.Created += (_, e) => onEvent(e.Name);
            watcher.Deleted += (_, e) => onEvent(e.Name);
            watcher.Renamed += (_, e) => onEvent(e.Name == FileName ? e.Name : e.OldName);
            watcher.Error += (_, _) => onError();
            watcher.EnableRaisingEvents = true;
            return watcher;
        }
        catch
        {
            watcher.Dispose();
            throw;
        }
    }

    private void OnEvent(string? name)
    {
        if (name == FileName)
        {
            Changed();
        }
        else
        {
            Check(); // another name in the directory: perhaps a link the file is reached through
        }
    }

    private void Check()
    {
        var now = FileStamp.Of(_path);
        lock (_lock)
        {
            if (now == _seen)
            {
                return;
            }
        }

        Changed();
    }

    private void Changed()
    {
        var now = FileStamp.Of(_path);
        CancellationTokenSource fired;
        var back = false;
        lock (_lock)
        {
            if (_disposed)
            {
                return;
            }

            _seen = now;
            fired = _changed;
            _changed = new CancellationTokenSource();
            if (!now.Exists && _watcher is not null)
            {
                _whileMissing ??= Polling();
            }
            else if (now.Exists && _whileMissing is not null)
            {
                _whileMissing.Dispose();
                _whileMissing = null;
                back = true;
            }
        }

        if (back)
        {
            Rewatch();
        }

        // The configuration reloads inside the token's callbacks (after a delay it sleeps through): not on
        // the watcher's thread, which would miss events meanwhile.
        ThreadPool.UnsafeQueueUserWorkItem(static source =>
        {
            try
            {
                source.Cancel();
            }
            catch (AggregateException)
            {
                // A consumer's own failure — options that no longer validate, which are logged where they are
                // checked — is no reason to end the process (.NET's file watcher drops it the same way).
            }
        }, fired, preferLocal: false);
    }

    private ITimer Polling() => TimeProvider.System.CreateTimer(static state => ((ConfigurationFileProvider)state!).Check(), this, _pollInterval, _pollInterval);

    /// <summary>The directory watched anew, in case the one watched before was deleted; polling if it cannot be.</summary>
    private void Rewatch()
    {
        FileSystemWatcher? watcher = null;
        FileSystemWatcher? target = null;
        try
        {
            watcher = Watch(_files.Root, OnEvent, onError: Changed);
            target = WatchLinkTarget();
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ArgumentException)
        {
            // Gone again already, or inotify's limits reached: checked every few seconds from now on.
        }

        FileSystemWatcher? oldWatcher, oldTarget;
        lock (_lock)
        {
            if (_disposed)
            {
                oldWatcher = watcher;
                oldTarget = target;
            }
            else
            {
                (oldWatcher, oldTarget) = (_watcher, _targetWatcher);
                (_watcher, _targetWatcher) = (watcher, target);
                if (watcher is null)
                {
                    _poll ??= Polling();
                }
            }
        }

        oldWatcher?.Dispose();
        oldTarget?.Dispose();
    }

    public void Dispose()
    {
        lock (_lock)
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
        }

        _watcher?.Dispose();
        _targetWatcher?.Dispose();
        _poll?.Dispose();
        _whileMissing?.Dispose();
        _files.Dispose();
    }

    /// <summary>What says the file changed: its length and time, read through any symbolic links.</summary>
    private readonly record struct FileStamp(bool Exists, long Length, DateTime LastWriteUtc)
    {
        public static FileStamp Of(string path)
        {
            try
            {
                // A link's own length and time say nothing of the file it leads to.
                FileSystemInfo file = new FileInfo(path);
                if (file.LinkTarget is not null)
                {
                    file = File.ResolveLinkTarget(path, returnFinalTarget: true) ?? file;
                }

                return file is FileInfo { Exists: true } found ? new(true, found.Length, found.LastWriteTimeUtc) : default;
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                return default; // unreadable counts as gone; the configuration's own read says why
            }
        }
    }
}
