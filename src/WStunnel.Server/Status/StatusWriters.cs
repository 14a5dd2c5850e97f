using System.Globalization;
using System.Text;
using System.Text.Json;

namespace WStunnel.Server.Status;

/// <summary>The status in the original WStunnel's <c>key=value</c> lines, and as JSON.</summary>
internal static class StatusWriters
{
    /// <summary>
    /// The original's <c>/_stats</c> layout (<c>tunnels=N</c>, then <c>tunnelNN_key=value</c>), with the
    /// tunnel's name or token fingerprint where the original printed the token.
    /// </summary>
    public static string Text(IReadOnlyList<TunnelStatus> tunnels, DateTimeOffset now)
    {
        var text = new StringBuilder();
        text.Append(CultureInfo.InvariantCulture, $"tunnels={tunnels.Count}\n");
        for (var i = 0; i < tunnels.Count; i++)
        {
            var t = tunnels[i];
            var prefix = $"tunnel{i:00}_";
            var agent = t.Agents.FirstOrDefault(a => a.Connected) ?? (t.Agents.Count > 0 ? t.Agents[0] : null);
            void Line(string key, object? value) => text.Append(CultureInfo.InvariantCulture, $"{prefix}{key}={value}\n");
            Line("name", t.Name);
            Line("agents", t.Agents.Count(a => a.Connected));
            Line("req_pending", t.Agents.Sum(a => a.InFlight));
            Line("req_queued", t.Queued);
            Line("tot_req", t.Requests);
            Line("errors", t.Errors);
            Line("bytes_to_agent", t.BytesToAgent);
            Line("bytes_from_agent", t.BytesFromAgent);
            Line("remote_addr", agent?.Address);
            Line("remote_identity", agent?.Certificate);
            Line("transport", agent?.Transport);
            Line("connected_since", agent?.ConnectedAt.ToString("O", CultureInfo.InvariantCulture));
            Line("last_req", t.LastRequestAt?.ToString("O", CultureInfo.InvariantCulture));
            Line("idle_secs", t.LastRequestAt is { } last ? (long)(now - last).TotalSeconds : null);
        }

        return text.ToString();
    }

    public static void Json(Utf8JsonWriter json, IReadOnlyList<TunnelStatus> tunnels, DateTimeOffset now)
    {
        json.WriteStartObject();
        json.WriteString("time", now);
        json.WriteNumber("sessions", tunnels.Sum(t => t.Agents.Count));
        json.WriteNumber("queued", tunnels.Sum(t => t.Queued));
        json.WriteStartArray("tunnels");
        foreach (var t in tunnels)
        {
            json.WriteStartObject();
            json.WriteString("name", t.Name);
            json.WriteBoolean("named", t.IsNamed);
            json.WriteNumber("maxAgents", t.MaxAgents);
            json.WriteNumber("inFlight", t.Agents.Sum(a => a.InFlight));
            json.WriteNumber("queued", t.Queued);
            json.WriteNumber("requests", t.Requests);
            json.WriteNumber("errors", t.Errors);
            json.WriteNumber("bytesToAgent", t.BytesToAgent);
            json.WriteNumber("bytesFromAgent", t.BytesFromAgent);
            WriteTime(json, "lastRequestAt", t.LastRequestAt);
            WriteTime(json, "disconnectedAt", t.Agents.Count == 0 ? t.DisconnectedAt : null);
            json.WriteStartArray("agents");
            foreach (var a in t.Agents)
            {
                json.WriteStartObject();
                json.WriteString("address", a.Address?.ToString());
                json.WriteString("identity", a.Certificate);
                json.WriteString("transport", a.Transport);
                json.WriteString("connectedSince", a.ConnectedAt);
                json.WriteBoolean("connected", a.Connected);
                json.WriteNumber("inFlight", a.InFlight);
                json.WriteNumber("resumptions", a.Resumptions);
                json.WriteEndObject();
            }

            json.WriteEndArray();
            json.WriteEndObject();
        }

        json.WriteEndArray();
        json.WriteEndObject();
    }

    private static void WriteTime(Utf8JsonWriter json, string name, DateTimeOffset? value)
    {
        if (value is { } time)
        {
            json.WriteString(name, time);
        }
        else
        {
            json.WriteNull(name);
        }
    }
}
