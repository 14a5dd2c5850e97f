namespace WStunnel.EndToEnd.Tests.Infrastructure;

/// <summary>A directory for a test's files, deleted with everything in it.</summary>
internal sealed class TemporaryDirectory : IDisposable
{
    public string Path { get; } = Directory.CreateTempSubdirectory("wstunnel-test-").FullName;

    /// <summary>Writes <paramref name="text"/> to a file named <paramref name="name"/> here and returns its path.</summary>
    public string WriteFile(string name, string text)
    {
        var path = System.IO.Path.Combine(Path, name);
        File.WriteAllText(path, text);
        return path;
    }

    public void Dispose() => Directory.Delete(Path, recursive: true);
}
