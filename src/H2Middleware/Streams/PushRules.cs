using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Primitives;

namespace H2Middleware.Streams;

/// <summary>
/// What a handler may promise (RFC 9113 §8.4), checked on the handler's thread before anything reaches the serve loop,
/// as strictly as Go's <c>Pusher</c>: a safe, cacheable method (GET or HEAD), an absolute path, and only regular fields
/// that a request without content may carry; the authority comes from the parent request.
/// </summary>
internal static class PushRules
{
    /// <summary>The interned method for GET or HEAD (methods are case-sensitive, RFC 9110 §9.1).</summary>
    public static string Method(string method) => method switch
    {
        "GET" => HttpMethods.Get,
        "HEAD" => HttpMethods.Head,
        _ => throw new ArgumentException($"A promised request must be GET or HEAD (safe and cacheable), not '{method}'.", nameof(method)),
    };

    /// <summary>
    /// An absolute path (a query allowed): starts with one '/', visible ASCII only, no fragment, and the form the
    /// engine's request target parsing accepts.
    /// </summary>
    public static void CheckPath(string path)
    {
        bool valid = path.Length > 0 && path[0] == '/' && !path.StartsWith("//", StringComparison.Ordinal)
            && !path.AsSpan().ContainsAnyExceptInRange('!', '~') && !path.Contains('#')
            && RequestTarget.TrySplit(path, out _, out _);
        if (!valid)
        {
            throw new ArgumentException($"A promised request's path must be an absolute path such as '/style.css', not '{path}'.", nameof(path));
        }
    }

    /// <summary>A copy of the promised request's fields, each checked; throws for a field a promised request must not carry.</summary>
    public static HeaderFieldDictionary CopyFields(IHeaderDictionary? headers)
    {
        var copy = new HeaderFieldDictionary();
        if (headers is null)
        {
            return copy;
        }

        foreach (KeyValuePair<string, StringValues> field in headers)
        {
            string name = field.Key;
            if (name.StartsWith(':'))
            {
                throw new ArgumentException($"A promised request's pseudo-header fields are the engine's; '{name}' cannot be set.", nameof(headers));
            }

            if (!HeaderFieldRules.IsValidResponseName(name) || HeaderFieldRules.IsConnectionSpecific(name) || IsForbidden(name))
            {
                throw new ArgumentException($"A promised request cannot carry the field '{name}'.", nameof(headers));
            }

            foreach (string? value in field.Value)
            {
                if (value is null || !HeaderFieldRules.IsValidValue(value.AsSpan()) || value.AsSpan().Trim(" \t").Length != value.Length)
                {
                    throw new ArgumentException($"The value of the promised request's field '{name}' is not valid.", nameof(headers));
                }
            }

            copy[name] = field.Value;
        }

        return copy;
    }

    /// <summary>
    /// Fields about content, which a promised request has none of (§8.4: it carries no content), and <c>host</c>, since
    /// the promised request's authority is the parent's.
    /// </summary>
    private static bool IsForbidden(string name) =>
        name.Equals("host", StringComparison.OrdinalIgnoreCase)
        || name.Equals("content-length", StringComparison.OrdinalIgnoreCase)
        || name.Equals("content-encoding", StringComparison.OrdinalIgnoreCase)
        || name.Equals("expect", StringComparison.OrdinalIgnoreCase)
        || name.Equals("te", StringComparison.OrdinalIgnoreCase)
        || name.Equals("trailer", StringComparison.OrdinalIgnoreCase);
}
