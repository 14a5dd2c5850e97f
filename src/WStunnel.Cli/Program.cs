using System.CommandLine;
using WStunnel.Cli;

var root = new RootCommand("""
    WStunnel: serve HTTP from a machine the internet cannot reach, through an agent that dials out to a gateway.

    Run with no command to start a demo tunnel on loopback (gateway, agent and a small backend).

    Examples:
      wstunnel demo
      wstunnel server --urls https://0.0.0.0:443 --cert gateway.pem --cert-key gateway.key
      wstunnel agent --server wss://gateway.example.com --token-file /etc/wstunnel/token --target http://localhost:8080

    The original WStunnel's 'srv' and 'cli' commands accept its flags (-port, -tunnel, -server, -token, …).
    """)
{
    DemoCommand.Create(),
    ServerCommand.Create(),
    AgentCommand.Create(),
    LegacyCommands.Server(),
    LegacyCommands.Client(),
};
root.SetAction((result, cancellationToken) => DemoCommand.RunAsync(once: false, Console.Out, cancellationToken));
return await root.Parse(args).InvokeAsync().ConfigureAwait(false);
