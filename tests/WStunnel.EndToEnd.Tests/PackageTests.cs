using System.Diagnostics;
using System.Security.Cryptography.X509Certificates;
using WStunnel.EndToEnd.Tests.Infrastructure;

namespace WStunnel.EndToEnd.Tests;

/// <summary>
/// What NuGet users get: the packages, packed into a folder feed, build a fresh gateway and a fresh
/// agent that know nothing of this repository's projects — and a request goes through them.
/// The tool package installs and runs.
/// </summary>
[Collection(SerialTests.Name)]
public sealed class PackageTests(TunnelFixture fixture) : IClassFixture<TunnelFixture>, IDisposable
{
    private readonly string _work = Directory.CreateTempSubdirectory("wstunnel-packages-").FullName;
    private readonly string _version = $"0.9.0-test.{DateTime.UtcNow:yyyyMMddHHmmss}.{Environment.ProcessId}";

    public void Dispose() => Directory.Delete(_work, recursive: true);

    [Fact]
    public async Task A_gateway_and_an_agent_built_from_the_packages_alone_carry_a_request()
    {
        var feed = await PackAsync();
        await File.WriteAllTextAsync(Path.Combine(_work, "nuget.config"), $"""
            <?xml version="1.0" encoding="utf-8"?>
            <configuration><packageSources><add key="wstunnel-test" value="{feed}" /></packageSources></configuration>
            """);
        var gatewayDll = await CreateProjectAsync("Gateway", "Microsoft.NET.Sdk.Web", "WStunnel.Server", """
            using System.Net;
            using System.Security.Cryptography.X509Certificates;

            var builder = WebApplication.CreateBuilder(args);
            var certificate = X509Certificate2.CreateFromPemFile(args[0], args[1]);
            builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0, l => l.UseHttps(certificate)));
            builder.Services.AddReverseProxy().AddWStunnel();
            var app = builder.Build();
            app.MapWStunnel();
            app.MapReverseProxy();
            app.Run();
            """);
        var agentDll = await CreateProjectAsync("Agent", "Microsoft.NET.Sdk", "WStunnel.Agent", """
            using Microsoft.Extensions.DependencyInjection;
            using Microsoft.Extensions.Hosting;

            var builder = Host.CreateApplicationBuilder(args);
            builder.Services.AddWStunnelAgent();
            builder.Build().Run();
            """);

        var certificateFile = Path.Combine(_work, "gateway.pem");
        var keyFile = Path.Combine(_work, "gateway.key");
        await File.WriteAllTextAsync(certificateFile, fixture.Certificate.Server.ExportCertificatePem());
        await File.WriteAllTextAsync(keyFile, fixture.Certificate.Server.GetECDsaPrivateKey()!.ExportPkcs8PrivateKeyPem());
        using var gateway = CliProcess.StartDll(gatewayDll, [certificateFile, keyFile], null);
        var listening = await gateway.WaitForOutputAsync("Now listening on", TimeSpan.FromMinutes(1));
        var address = new Uri(listening[listening.IndexOf("https://", StringComparison.Ordinal)..].Trim());

        var token = "packaged-" + Guid.NewGuid().ToString("N");
        using var agent = CliProcess.StartDll(agentDll, [], new Dictionary<string, string>
        {
            ["WStunnelAgent__Server"] = $"wss://127.0.0.1:{address.Port}",
            ["WStunnelAgent__Token"] = token,
            ["WStunnelAgent__Target"] = fixture.Backend.Address.ToString(),
            ["WStunnelAgent__CaCertificateFile"] = fixture.Certificate.CaFile,
        });
        await agent.WaitForOutputAsync("Tunnel open to", TimeSpan.FromMinutes(1));

        using var client = fixture.Certificate.CreateClient(new Uri($"https://127.0.0.1:{address.Port}"));
        Assert.Equal("status 200", await client.GetStringAsync($"/_token/{token}/status/200"));
    }

    [Fact]
    public async Task The_tool_package_installs_and_runs()
    {
        var feed = await PackAsync();
        var tools = Path.Combine(_work, "tools");

        await DotnetAsync(_work, "tool", "install", "wstunnel", "--version", _version, "--tool-path", tools, "--add-source", feed);
        var help = await DotnetAsync(_work, Path.Combine(tools, "wstunnel"), "--help");

        Assert.Contains("agent", help, StringComparison.Ordinal);
        Assert.Contains("server", help, StringComparison.Ordinal);
    }

    /// <summary>Packs the three libraries and the tool, as built for these tests, into a folder feed.</summary>
    private async Task<string> PackAsync()
    {
        var feed = Path.Combine(_work, "feed");
        foreach (var project in (string[])["WStunnel.Protocol", "WStunnel.Server", "WStunnel.Agent", "WStunnel.Cli"])
        {
            await DotnetAsync(CliProcess.RepositoryRoot, "pack", Path.Combine("src", project), "--no-build", "-c", CliProcess.BuildConfiguration,
                "-o", feed, $"-p:PackageVersion={_version}");
        }

        return feed;
    }

    /// <summary>A new project in its own folder that references one package, built; returns its dll.</summary>
    private async Task<string> CreateProjectAsync(string name, string sdk, string package, string program)
    {
        var directory = Directory.CreateDirectory(Path.Combine(_work, name)).FullName;
        await File.WriteAllTextAsync(Path.Combine(directory, name + ".csproj"), $"""
            <Project Sdk="{sdk}">
              <PropertyGroup>
                <OutputType>Exe</OutputType>
                <TargetFramework>net10.0</TargetFramework>
                <ImplicitUsings>enable</ImplicitUsings>
                <Nullable>enable</Nullable>
              </PropertyGroup>
              <ItemGroup>
                <PackageReference Include="{package}" Version="{_version}" />
              </ItemGroup>
            </Project>
            """);
        await File.WriteAllTextAsync(Path.Combine(directory, "Program.cs"), program);
        await DotnetAsync(directory, "build", "-c", "Release", "-o", Path.Combine(directory, "out"));
        return Path.Combine(directory, "out", name + ".dll");
    }

    private static async Task<string> DotnetAsync(string directory, params string[] arguments)
    {
        var start = new ProcessStartInfo(arguments[0].Contains('/') ? arguments[0] : "dotnet")
        {
            WorkingDirectory = directory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (var argument in arguments[0].Contains('/') ? arguments[1..] : arguments)
        {
            start.ArgumentList.Add(argument);
        }

        start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        start.Environment["DOTNET_NOLOGO"] = "1";
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var errors = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(5));
        await process.WaitForExitAsync(timeout.Token);
        var text = await output + await errors;
        Assert.True(process.ExitCode == 0, $"{string.Join(' ', arguments)} exited {process.ExitCode}:\n{text}");
        return text;
    }
}

/// <summary>Packing and building fresh projects is heavy: these tests run alone, after the others.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class SerialTests
{
    public const string Name = "Packages";
}
