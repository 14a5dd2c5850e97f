using System.Collections;
using System.Reflection;
using System.Text.Json;
using WStunnel.Agent;
using WStunnel.EndToEnd.Tests.Infrastructure;
using WStunnel.Server;

namespace WStunnel.EndToEnd.Tests;

/// <summary>
/// The JSON schema segments the packages ship let editors complete and validate appsettings.json:
/// they must describe every setting there is — and nothing that is not.
/// </summary>
public sealed class ConfigurationSchemaTests
{
    [Theory]
    [InlineData("WStunnel.Server", "WStunnel", typeof(WStunnelOptions))]
    [InlineData("WStunnel.Agent", "WStunnelAgent", typeof(WStunnelAgentOptions))]
    public void The_schema_describes_every_setting_and_only_real_ones(string project, string section, Type options)
    {
        using var schema = JsonDocument.Parse(File.ReadAllText(Path.Combine(CliProcess.RepositoryRoot, "src", project, "ConfigurationSchema.json")));

        var problems = new List<string>();
        Compare(schema.RootElement.GetProperty("properties").GetProperty(section), options, section, problems);

        Assert.Empty(problems);
    }

    [Fact]
    public void The_repositorys_appsettings_uses_only_settings_the_schema_knows()
    {
        using var schema = JsonDocument.Parse(File.ReadAllText(Path.Combine(CliProcess.RepositoryRoot, "src", "WStunnel.Server", "ConfigurationSchema.json")));
        using var settings = JsonDocument.Parse(File.ReadAllText(Path.Combine(CliProcess.RepositoryRoot, "appsettings.json")));
        var known = schema.RootElement.GetProperty("properties").GetProperty("WStunnel").GetProperty("properties");

        Assert.All(settings.RootElement.GetProperty("WStunnel").EnumerateObject(), setting => Assert.True(known.TryGetProperty(setting.Name, out _), setting.Name));
    }

    private static void Compare(JsonElement schema, Type type, string path, List<string> problems)
    {
        var declared = schema.GetProperty("properties").EnumerateObject().ToDictionary(p => p.Name, p => p.Value);
        var properties = type.GetProperties(BindingFlags.Public | BindingFlags.Instance);
        foreach (var property in properties)
        {
            var where = $"{path}:{property.Name}";
            if (!declared.TryGetValue(property.Name, out var entry))
            {
                problems.Add($"{where} is missing from the schema");
                continue;
            }

            if (!entry.TryGetProperty("description", out var description) || description.GetString() is not { Length: > 10 })
            {
                problems.Add($"{where} has no description");
            }

            var propertyType = property.PropertyType;
            if (propertyType.IsGenericType && propertyType.GetGenericTypeDefinition() == typeof(IDictionary<,>))
            {
                Compare(entry.GetProperty("additionalProperties"), propertyType.GetGenericArguments()[1], where + ":NAME", problems);
            }
            else if (propertyType.IsClass && propertyType.Name.EndsWith("Options", StringComparison.Ordinal) && !typeof(IEnumerable).IsAssignableFrom(propertyType))
            {
                Compare(entry, propertyType, where, problems);
            }
        }

        foreach (var name in declared.Keys.Except(properties.Select(p => p.Name)))
        {
            problems.Add($"{path}:{name} is in the schema but is no setting");
        }
    }
}
