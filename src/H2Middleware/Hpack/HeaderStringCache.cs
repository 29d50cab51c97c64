using System.Text;
using System.Text.Unicode;

namespace H2Middleware.Hpack;

/// <summary>
/// Turns decoded header bytes into strings without allocating for what repeats. Names from the static table (and a
/// few other common ones) map to constant strings; other names and every value are remembered per connection, so a
/// value equal to the last one seen for that name (user-agent, accept, :authority on every request) is reused.
/// An idle connection lets what it remembers go (<see cref="Release"/>). Owned by one connection's serve loop; not
/// thread-safe.
/// </summary>
internal sealed class HeaderStringCache
{
    private const int MaxRememberedNames = 64;
    private const int MaxRememberedValueLength = 4096;

    private static readonly string[] CommonNames =
    [
        "te", "grpc-timeout", "grpc-encoding", "grpc-accept-encoding", "grpc-message-type", "x-forwarded-for", "x-forwarded-proto",
        "x-forwarded-host", "x-request-id", "traceparent", "tracestate", "baggage", "priority", "origin", "upgrade-insecure-requests",
        "sec-fetch-dest", "sec-fetch-mode", "sec-fetch-site", "sec-fetch-user", "sec-ch-ua", "sec-ch-ua-mobile", "sec-ch-ua-platform",
        "dnt", "pragma", "x-requested-with", "access-control-request-method", "access-control-request-headers",
    ];

    private readonly List<string> _names = [];
    private Dictionary<string, string>? _lastValues;

    /// <summary>The name as a string: the static table's when <paramref name="staticNameIndex"/> is set, else a cached one.</summary>
    public string GetName(int staticNameIndex, ReadOnlySpan<byte> name)
    {
        if (staticNameIndex != 0)
        {
            return HpackStaticTable.Name(staticNameIndex);
        }

        foreach (string common in CommonNames)
        {
            if (Ascii.Equals(name, common))
            {
                return common;
            }
        }

        foreach (string seen in _names)
        {
            if (Ascii.Equals(name, seen))
            {
                return seen;
            }
        }

        string created = Encoding.Latin1.GetString(name);
        if (_names.Count < MaxRememberedNames)
        {
            _names.Add(created);
        }

        return created;
    }

    /// <summary>The value as a string, reusing the last string seen for this name when the bytes are the same.</summary>
    public string GetValue(string name, ReadOnlySpan<byte> value)
    {
        if (value.IsEmpty)
        {
            return string.Empty;
        }

        string? last = null;
        if (_lastValues?.TryGetValue(name, out last) == true && Ascii.Equals(value, last))
        {
            return last;
        }

        // Octets beyond ASCII are read as UTF-8 when they are UTF-8 (as Kestrel reads them), else one character each.
        string created = Ascii.IsValid(value) || !Utf8.IsValid(value) ? Encoding.Latin1.GetString(value) : Encoding.UTF8.GetString(value);
        _lastValues ??= new Dictionary<string, string>(StringComparer.Ordinal);
        if (value.Length <= MaxRememberedValueLength && (_lastValues.Count < MaxRememberedNames || last is not null))
        {
            _lastValues[name] = created;
        }

        return created;
    }

    /// <summary>Forgets the remembered names and values: the next request makes its strings again, then they are reused.</summary>
    public void Release()
    {
        _names.Clear();
        _names.Capacity = 0;
        _lastValues = null;
    }
}
