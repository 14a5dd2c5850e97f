using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.FileProviders;
using Microsoft.Extensions.Primitives;
using WStunnel.Cli.Hosting;
using WStunnel.EndToEnd.Tests.Infrastructure;

namespace WStunnel.EndToEnd.Tests;

/// <summary>
/// The gateway's configuration file is watched in its own directory only, and a change to it is seen
/// however it is made: written in place, renamed into place, or swapped behind a link.
/// </summary>
public sealed class ConfigurationFileProviderTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan Quiet = TimeSpan.FromMilliseconds(600);

    [Fact]
    public async Task A_file_written_in_place_fires_the_change_token()
    {
        using var directory = new TemporaryDirectory();
        var path = directory.WriteFile("gateway.json", "{}");
        using var files = new ConfigurationFileProvider(path);
        var changed = Fired(files.Watch("gateway.json"));

        await File.WriteAllTextAsync(path, """{ "A": 1 }""");

        await changed.WaitAsync(Patience);
    }

    [Fact]
    public async Task A_file_renamed_into_place_fires_the_change_token()
    {
        using var directory = new TemporaryDirectory();
        var path = directory.WriteFile("gateway.json", "{}");
        using var files = new ConfigurationFileProvider(path);
        var changed = Fired(files.Watch("gateway.json"));

        File.Move(directory.WriteFile("gateway.json.next", """{ "A": 1 }"""), path, overwrite: true);

        await changed.WaitAsync(Patience);
    }

    [Fact]
    public async Task Other_files_in_the_directory_and_files_beneath_it_do_not_fire_it()
    {
        using var directory = new TemporaryDirectory();
        var path = directory.WriteFile("gateway.json", "{}");
        Directory.CreateDirectory(Path.Combine(directory.Path, "logs"));
        using var files = new ConfigurationFileProvider(path);
        var changed = Fired(files.Watch("gateway.json"));

        for (var i = 0; i < 5; i++)
        {
            await File.AppendAllTextAsync(Path.Combine(directory.Path, "gateway.log"), "a log line\n");
            await File.AppendAllTextAsync(Path.Combine(directory.Path, "logs", "gateway.log"), "a log line\n");
        }

        await Task.Delay(Quiet);
        Assert.False(changed.IsCompleted);
        await File.WriteAllTextAsync(path, """{ "A": 1 }"""); // the watch was live all along
        await changed.WaitAsync(Patience);
    }

    [Fact]
    public async Task A_file_reached_through_a_swapped_directory_link_fires_the_change_token_as_a_Kubernetes_ConfigMap_update_does()
    {
        using var directory = new TemporaryDirectory();
        var first = Directory.CreateDirectory(Path.Combine(directory.Path, "..2026_11_29_first")).FullName;
        var second = Directory.CreateDirectory(Path.Combine(directory.Path, "..2026_11_29_second")).FullName;
        await File.WriteAllTextAsync(Path.Combine(first, "gateway.json"), "{}");
        await File.WriteAllTextAsync(Path.Combine(second, "gateway.json"), """{ "A": 1 }""");
        File.CreateSymbolicLink(Path.Combine(directory.Path, "..data"), Path.GetFileName(first));
        var path = Path.Combine(directory.Path, "gateway.json");
        File.CreateSymbolicLink(path, Path.Combine("..data", "gateway.json"));
        using var files = new ConfigurationFileProvider(path);
        var changed = Fired(files.Watch("gateway.json"));

        // The kubelet's swap: a new link to the new directory, renamed over the old one (rename(2), which
        // File.Move does not do for a link to a directory).
        File.CreateSymbolicLink(Path.Combine(directory.Path, "..data_tmp"), Path.GetFileName(second));
        using (var rename = System.Diagnostics.Process.Start("mv", ["-T", Path.Combine(directory.Path, "..data_tmp"), Path.Combine(directory.Path, "..data")]))
        {
            await rename.WaitForExitAsync();
            Assert.Equal(0, rename.ExitCode);
        }

        await changed.WaitAsync(Patience);
        Assert.Equal("1", Load(path)["A"]);
    }

    [Fact]
    public async Task A_file_that_links_to_a_file_elsewhere_fires_the_change_token_when_edited_where_it_lives()
    {
        using var directory = new TemporaryDirectory();
        var managed = Directory.CreateDirectory(Path.Combine(directory.Path, "managed")).FullName;
        var target = Path.Combine(managed, "gateway.json");
        await File.WriteAllTextAsync(target, "{}");
        var path = Path.Combine(Directory.CreateDirectory(Path.Combine(directory.Path, "etc")).FullName, "gateway.json");
        File.CreateSymbolicLink(path, target);
        using var files = new ConfigurationFileProvider(path);
        var changed = Fired(files.Watch("gateway.json"));

        await File.WriteAllTextAsync(target, """{ "A": 1 }""");

        await changed.WaitAsync(Patience);
    }

    [Fact]
    public async Task Where_the_directory_cannot_be_watched_the_file_is_polled()
    {
        using var directory = new TemporaryDirectory();
        var path = directory.WriteFile("gateway.json", "{}");
        using var files = new ConfigurationFileProvider(path, TimeSpan.FromMilliseconds(50),
            _ => throw new IOException("The configured user limit (128) on the number of inotify instances has been reached"));
        var changed = Fired(files.Watch("gateway.json"));

        await Task.Delay(Quiet);
        Assert.False(changed.IsCompleted); // polls find nothing new until the file changes
        await File.WriteAllTextAsync(path, """{ "A": 12 }""");

        await changed.WaitAsync(Patience);
    }

    [Fact]
    public async Task A_directory_deleted_and_made_again_is_watched_again()
    {
        using var directory = new TemporaryDirectory();
        var conf = Path.Combine(directory.Path, "conf");
        Directory.CreateDirectory(conf);
        var path = Path.Combine(conf, "gateway.json");
        await File.WriteAllTextAsync(path, "{}");
        var watches = 0;
        using var files = new ConfigurationFileProvider(path, TimeSpan.FromMilliseconds(50), d =>
        {
            Interlocked.Increment(ref watches);
            return new FileSystemWatcher(d);
        });
        var gone = Fired(files.Watch("gateway.json"));

        Directory.Delete(conf, recursive: true);
        await gone.WaitAsync(Patience); // the file's deletion (the configuration keeps its settings and says so)

        // The deleted directory's watch hears nothing of the new one: the file, checked while it is gone, is found back.
        var back = Fired(files.Watch("gateway.json"));
        Directory.CreateDirectory(conf);
        await File.WriteAllTextAsync(path, """{ "A": 1 }""");
        await back.WaitAsync(Patience);
        Assert.Equal(2, Volatile.Read(ref watches)); // and the new directory is watched

        var edited = Fired(files.Watch("gateway.json"));
        await File.WriteAllTextAsync(path, """{ "A": 22 }""");
        await edited.WaitAsync(Patience);
    }

    [Fact]
    public async Task A_file_deleted_and_written_again_is_seen_both_times_and_watched_after()
    {
        using var directory = new TemporaryDirectory();
        var path = directory.WriteFile("gateway.json", "{}");
        using var files = new ConfigurationFileProvider(path);
        var gone = Fired(files.Watch("gateway.json"));
        File.Delete(path);
        await gone.WaitAsync(Patience);

        var back = Fired(files.Watch("gateway.json"));
        await File.WriteAllTextAsync(path, """{ "A": 1 }""");
        await back.WaitAsync(Patience);

        var edited = Fired(files.Watch("gateway.json"));
        await File.WriteAllTextAsync(path, """{ "A": 22 }""");
        await edited.WaitAsync(Patience);
    }

    [Fact]
    public async Task Each_change_token_fires_once_and_the_next_one_sees_the_next_change()
    {
        using var directory = new TemporaryDirectory();
        var path = directory.WriteFile("gateway.json", "{}");
        using var files = new ConfigurationFileProvider(path);
        var first = files.Watch("gateway.json");
        var firstChanged = Fired(first);
        await File.WriteAllTextAsync(path, """{ "A": 1 }""");
        await firstChanged.WaitAsync(Patience);

        var second = files.Watch("gateway.json");
        Assert.False(second.HasChanged);
        var secondChanged = Fired(second);
        await File.WriteAllTextAsync(path, """{ "A": 22 }""");

        await secondChanged.WaitAsync(Patience);
    }

    [Fact]
    public void Other_names_get_a_token_that_never_fires_and_a_disposed_provider_watches_nothing()
    {
        using var directory = new TemporaryDirectory();
        var path = directory.WriteFile("gateway.json", "{}");
        var files = new ConfigurationFileProvider(path);

        Assert.Same(NullChangeToken.Singleton, files.Watch("other.json"));
        files.Dispose();
        Assert.Same(NullChangeToken.Singleton, files.Watch("gateway.json"));
    }

    [Fact]
    public void A_hidden_file_named_on_the_command_line_is_read()
    {
        using var directory = new TemporaryDirectory();
        var path = directory.WriteFile(".gateway.json", """{ "A": "hidden" }""");

        Assert.Equal("hidden", Load(path)["A"]);
    }

    [Fact]
    public async Task The_configuration_built_on_it_reloads_when_the_file_changes()
    {
        using var directory = new TemporaryDirectory();
        var path = directory.WriteFile("gateway.json", """{ "A": "before" }""");
        using var configuration = Watched(path);
        var reloaded = Fired(configuration.GetReloadToken());

        await File.WriteAllTextAsync(path, """{ "A": "after" }""");

        await reloaded.WaitAsync(Patience);
        Assert.Equal("after", configuration["A"]);
    }

    [Fact]
    public async Task A_save_that_does_not_read_keeps_the_settings_read_before_and_says_why_and_the_next_good_save_applies()
    {
        using var directory = new TemporaryDirectory();
        var path = directory.WriteFile("gateway.json", """{ "A": "first" }""");
        using var configuration = Watched(path);
        var failed = FirstFailure(configuration);

        await File.WriteAllTextAsync(path, """{ "A": "cut sh""");
        Assert.Contains($"The configuration file '{path}' is not valid JSON", await failed.WaitAsync(Patience), StringComparison.Ordinal);
        Assert.Equal("first", configuration["A"]);

        var reloaded = Fired(configuration.GetReloadToken());
        await File.WriteAllTextAsync(path, """{ "A": "second" }""");
        await reloaded.WaitAsync(Patience);
        Assert.Equal("second", configuration["A"]);
    }

    [Fact]
    public async Task A_deleted_file_keeps_the_settings_read_before_and_says_so()
    {
        using var directory = new TemporaryDirectory();
        var path = directory.WriteFile("gateway.json", """{ "A": "kept" }""");
        using var configuration = Watched(path);
        var failed = FirstFailure(configuration);

        File.Delete(path);

        Assert.Equal($"The configuration file '{path}' is missing", await failed.WaitAsync(Patience));
        Assert.Equal("kept", configuration["A"]);
    }

    private static ConfigurationRoot Watched(string path) =>
        (ConfigurationRoot)new ConfigurationBuilder().Add(new ConfigurationFileSource(path, watch: true)).Build();

    /// <summary>The reason given for the first change that was not applied.</summary>
    private static Task<string> FirstFailure(ConfigurationRoot configuration)
    {
        var failed = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        configuration.Providers.OfType<ConfigurationFileSource.Provider>().Single().ReloadFailed += reason => failed.TrySetResult(reason);
        return failed.Task;
    }

    private static IConfigurationRoot Load(string path) =>
        new ConfigurationBuilder().Add(new ConfigurationFileSource(path, watch: false)).Build();

    private static Task Fired(IChangeToken token)
    {
        var fired = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        token.RegisterChangeCallback(static state => ((TaskCompletionSource)state!).TrySetResult(), fired);
        return fired.Task;
    }
}
