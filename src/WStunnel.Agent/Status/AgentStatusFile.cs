using System.Text.Json;

namespace WStunnel.Agent.Status;

/// <summary>
/// Keeps <c>WStunnelAgent:StatusFile</c> up to date with the agent's state, for monitoring scripts:
/// written whole to a temporary file and renamed, so a reader never sees half of it.
/// </summary>
internal sealed class AgentStatusFile(string path, Uri server, Uri target)
{
    private readonly Lock _lock = new();

    public void Write(AgentState state, bool stopped = false)
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true }))
        {
            json.WriteStartObject();
            json.WriteString("state", stopped ? "stopped" : state.Connected ? "connected" : "disconnected");
            json.WriteBoolean("connected", state.Connected && !stopped);
            json.WriteString("transport", state.Transport);
            json.WriteString("since", state.Since);
            json.WriteString("lastError", state.LastError);
            json.WriteNumber("reconnects", state.Reconnects);
            json.WriteString("server", server.GetLeftPart(UriPartial.Path));
            json.WriteString("target", target.ToString());
            json.WriteEndObject();
        }

        lock (_lock)
        {
            var temporary = path + ".tmp";
            File.WriteAllBytes(temporary, buffer.ToArray());
            File.Move(temporary, path, overwrite: true);
        }
    }
}
