using Microsoft.AspNetCore.Http;

namespace WStunnel.Server.Status;

/// <summary>
/// The read-only status page: static HTML, a stylesheet and a script that polls the JSON status and
/// shows each tunnel's live request rate. A strict content security policy: no inline code, nothing
/// from elsewhere, and the page renders every value as text, never as markup.
/// </summary>
internal static class StatusPage
{
    private const string SecurityPolicy =
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

    public static Task WriteAsync(HttpContext context, string file) => file switch
    {
        "ui" => Write(context, "text/html; charset=utf-8", Html),
        "ui.js" => Write(context, "text/javascript; charset=utf-8", Script),
        "ui.css" => Write(context, "text/css; charset=utf-8", Style),
        _ => throw new ArgumentOutOfRangeException(nameof(file)),
    };

    private static Task Write(HttpContext context, string contentType, string content)
    {
        var headers = context.Response.Headers;
        headers.ContentSecurityPolicy = SecurityPolicy;
        headers.XContentTypeOptions = "nosniff";
        headers.CacheControl = "no-store";
        headers["Referrer-Policy"] = "no-referrer";
        context.Response.ContentType = contentType;
        return context.Response.WriteAsync(content, context.RequestAborted);
    }

    private const string Html = """
        <!DOCTYPE html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>WStunnel gateway</title>
        <link rel="stylesheet" href="ui.css">
        <script src="ui.js" defer></script>
        </head>
        <body>
        <h1>WStunnel gateway</h1>
        <p id="updated">Loading…</p>
        <table>
        <thead><tr><th>tunnel</th><th>agents</th><th>agent addresses</th><th>req/s</th><th>in flight</th><th>queued</th><th>requests</th><th>errors</th><th>from agents</th><th>to agents</th></tr></thead>
        <tbody id="tunnels"></tbody>
        </table>
        </body>
        </html>
        """;

    private const string Style = """
        body { font: 14px system-ui, sans-serif; margin: 2em; color: #222; }
        table { border-collapse: collapse; }
        th, td { padding: 0.3em 0.8em; border-bottom: 1px solid #ddd; text-align: right; }
        th:nth-child(-n+3), td:nth-child(-n+3) { text-align: left; }
        tr.offline td { color: #999; }
        """;

    private const string Script = """
        'use strict';
        const previous = new Map();
        let previousTime = 0;

        function bytes(n) {
          const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
          let i = 0;
          while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
          return (i === 0 ? n : n.toFixed(1)) + ' ' + units[i];
        }

        async function refresh() {
          const updated = document.getElementById('updated');
          try {
            const response = await fetch('json', { cache: 'no-store' });
            if (!response.ok) { throw new Error('HTTP ' + response.status); }
            const status = await response.json();
            const now = performance.now();
            const seconds = previousTime ? (now - previousTime) / 1000 : 0;
            const rows = status.tunnels.map(t => {
              const before = previous.get(t.name);
              const rate = before !== undefined && seconds > 0 ? Math.max(0, t.requests - before) / seconds : 0;
              previous.set(t.name, t.requests);
              const connected = t.agents.filter(a => a.connected);
              const row = document.createElement('tr');
              row.dataset.tunnel = t.name;
              if (connected.length === 0) { row.className = 'offline'; }
              const cells = [
                t.name,
                connected.length + (t.maxAgents > 1 ? ' / ' + t.maxAgents : ''),
                connected.map(a => a.address + ' (' + a.transport + ')').join(', ') || '—',
                rate.toFixed(1), t.inFlight, t.queued, t.requests, t.errors, bytes(t.bytesFromAgent), bytes(t.bytesToAgent),
              ];
              for (const value of cells) {
                const cell = document.createElement('td');
                cell.textContent = String(value);
                row.appendChild(cell);
              }
              return row;
            });
            document.getElementById('tunnels').replaceChildren(...rows);
            previousTime = now;
            updated.textContent = 'Updated ' + new Date(status.time).toLocaleTimeString() + ' · ' + status.sessions + ' agent session(s) · ' + status.queued + ' queued';
          } catch (error) {
            updated.textContent = 'Status unavailable: ' + error.message;
          }
        }

        refresh();
        setInterval(refresh, 2000);
        """;
}
