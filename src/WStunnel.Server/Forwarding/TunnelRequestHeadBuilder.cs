using System.Diagnostics;
using WStunnel.Protocol.Frames;
using WStunnel.Protocol.Http;

namespace WStunnel.Server.Forwarding;

/// <summary>Turns the request YARP prepared into the head that crosses the tunnel.</summary>
internal static class TunnelRequestHeadBuilder
{
    private const string SchemePrefix = "wstunnel://";

    // traceparent and tracestate, which InjectTraceContext adds.
    private const int TraceContextFields = 2;

    // The propagator's fields, as an array: enumerating its IReadOnlyCollection allocates an enumerator per request.
    private static PropagatorFields? s_fields;

    /// <param name="request">The request as YARP prepared it.</param>
    /// <param name="targetHeader">The header that selects one of the agent's additional targets (<c>WStunnel:TargetHeader</c>), or null.</param>
    /// <exception cref="FormatException">The target header is present but not an origin.</exception>
    public static RequestHead Build(HttpRequestMessage request, string? targetHeader)
    {
        var headers = TunnelHeaders.Collect(request.Headers, request.Content?.Headers, spare: TraceContextFields);
        InjectTraceContext(headers);
        return new RequestHead
        {
            Method = request.Method.Method,
            Authority = request.Headers.Host ?? "",
            PathAndQuery = request.Options.TryGetValue(TunnelRequestOptions.Target, out var target) ? target : PathAndQuery(request.RequestUri!),
            Origin = targetHeader is null ? "" : TakeOrigin(headers, targetHeader),
            Headers = headers,
        };
    }

    /// <summary>Moves the target selector out of the headers: it is for the agent, never for a backend.</summary>
    private static string TakeOrigin(List<KeyValuePair<string, string>> headers, string targetHeader)
    {
        var origin = "";
        var count = 0;
        foreach (var (name, value) in headers)
        {
            if (string.Equals(name, targetHeader, StringComparison.OrdinalIgnoreCase))
            {
                origin = value.Trim().TrimEnd('/');
                count++;
            }
        }

        if (count == 0)
        {
            return "";
        }

        RemoveNamed(headers, targetHeader);
        return count == 1 && HttpSyntax.IsOrigin(origin)
            ? origin
            : throw new FormatException($"The {targetHeader} header must be one origin such as http://host:8080 (scheme, host and port only).");
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

    /// <summary>Removes every header of that name; a loop rather than a capturing predicate, which would cost an allocation per request.</summary>
    private static void RemoveNamed(List<KeyValuePair<string, string>> headers, string name)
    {
        for (var i = headers.Count - 1; i >= 0; i--)
        {
            if (string.Equals(headers[i].Key, name, StringComparison.OrdinalIgnoreCase))
            {
                headers.RemoveAt(i);
            }
        }
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
        if (s_fields is not { } cached || !ReferenceEquals(cached.Propagator, propagator))
        {
            cached = new PropagatorFields(propagator, [.. propagator.Fields]);
            s_fields = cached;
        }

        foreach (var field in cached.Fields)
        {
            RemoveNamed(headers, field);
        }

        propagator.Inject(activity, headers, static (carrier, name, value) =>
        {
            if (carrier is List<KeyValuePair<string, string>> list && value is not null)
            {
                list.Add(new(name, value));
            }
        });
    }

    private sealed record PropagatorFields(DistributedContextPropagator Propagator, string[] Fields);
}
