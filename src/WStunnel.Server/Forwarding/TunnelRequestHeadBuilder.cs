using System.Diagnostics;
using WStunnel.Protocol.Frames;
using WStunnel.Protocol.Http;

namespace WStunnel.Server.Forwarding;

/// <summary>Turns the request YARP prepared into the head that crosses the tunnel.</summary>
internal static class TunnelRequestHeadBuilder
{
    private const string SchemePrefix = "wstunnel://";

    public static RequestHead Build(HttpRequestMessage request)
    {
        var headers = TunnelHeaders.Collect(request.Headers, request.Content?.Headers);
        InjectTraceContext(headers);
        return new RequestHead
        {
            Method = request.Method.Method,
            Authority = request.Headers.Host ?? "",
            PathAndQuery = request.Options.TryGetValue(TunnelRequestOptions.Target, out var target) ? target : PathAndQuery(request.RequestUri!),
            Headers = headers,
        };
    }

    /// <summary>
    /// The path and query exactly as YARP composed them: taken from the original string, because
    /// <see cref="Uri"/> may re-encode or normalise the path of a non-HTTP scheme.
    /// </summary>
    public static string PathAndQuery(Uri uri)
    {
        var text = uri.OriginalString;
        var start = text.StartsWith(SchemePrefix, StringComparison.OrdinalIgnoreCase) ? SchemePrefix.Length : 0;
        var slash = text.IndexOf('/', start);
        var query = text.IndexOf('?', start);
        if (slash < 0 || (query >= 0 && query < slash))
        {
            return query < 0 ? "/" : "/" + text[query..];
        }

        return text[slash..];
    }

    /// <summary>YARP leaves trace propagation to SocketsHttpHandler; a custom handler must inject the context itself.</summary>
    private static void InjectTraceContext(List<KeyValuePair<string, string>> headers)
    {
        var activity = Activity.Current;
        if (activity is null)
        {
            return;
        }

        var propagator = DistributedContextPropagator.Current;
        foreach (var field in propagator.Fields)
        {
            headers.RemoveAll(h => string.Equals(h.Key, field, StringComparison.OrdinalIgnoreCase));
        }

        propagator.Inject(activity, headers, static (carrier, name, value) =>
        {
            if (carrier is List<KeyValuePair<string, string>> list && value is not null)
            {
                list.Add(new(name, value));
            }
        });
    }
}
