using System.Text;

namespace H2Middleware.Hpack;

/// <summary>The static table of RFC 7541 Appendix A (indices 1 to 61).</summary>
internal static class HpackStaticTable
{
    public const int Count = 61;

    private static readonly (string Name, string Value)[] Entries =
    [
        (":authority", ""), (":method", "GET"), (":method", "POST"), (":path", "/"), (":path", "/index.html"),
        (":scheme", "http"), (":scheme", "https"), (":status", "200"), (":status", "204"), (":status", "206"),
        (":status", "304"), (":status", "400"), (":status", "404"), (":status", "500"), ("accept-charset", ""),
        ("accept-encoding", "gzip, deflate"), ("accept-language", ""), ("accept-ranges", ""), ("accept", ""),
        ("access-control-allow-origin", ""), ("age", ""), ("allow", ""), ("authorization", ""), ("cache-control", ""),
        ("content-disposition", ""), ("content-encoding", ""), ("content-language", ""), ("content-length", ""),
        ("content-location", ""), ("content-range", ""), ("content-type", ""), ("cookie", ""), ("date", ""),
        ("etag", ""), ("expect", ""), ("expires", ""), ("from", ""), ("host", ""), ("if-match", ""),
        ("if-modified-since", ""), ("if-none-match", ""), ("if-range", ""), ("if-unmodified-since", ""),
        ("last-modified", ""), ("link", ""), ("location", ""), ("max-forwards", ""), ("proxy-authenticate", ""),
        ("proxy-authorization", ""), ("range", ""), ("referer", ""), ("refresh", ""), ("retry-after", ""),
        ("server", ""), ("set-cookie", ""), ("strict-transport-security", ""), ("transfer-encoding", ""),
        ("user-agent", ""), ("vary", ""), ("via", ""), ("www-authenticate", ""),
    ];

    private static readonly byte[][] NameBytes = Entries.Select(e => Encoding.ASCII.GetBytes(e.Name)).ToArray();
    private static readonly byte[][] ValueBytes = Entries.Select(e => Encoding.ASCII.GetBytes(e.Value)).ToArray();

    // The first static index of each distinct name, for the encoder (case-insensitive: applications write "Content-Type").
    private static readonly Dictionary<string, int> NameIndices = BuildNameIndices();

    public static string Name(int index) => Entries[index - 1].Name;

    public static string Value(int index) => Entries[index - 1].Value;

    public static ReadOnlySpan<byte> NameSpan(int index) => NameBytes[index - 1];

    public static ReadOnlySpan<byte> ValueSpan(int index) => ValueBytes[index - 1];

    /// <summary>The static index whose name matches (any case), else 0.</summary>
    public static int FindName(string name) => NameIndices.TryGetValue(name, out int index) ? index : 0;

    /// <summary>The static index whose name and value both match, else 0.</summary>
    public static int FindField(int nameIndex, string value)
    {
        for (int index = nameIndex; index > 0 && index <= Count && string.Equals(Entries[index - 1].Name, Entries[nameIndex - 1].Name, StringComparison.Ordinal); index++)
        {
            if (Entries[index - 1].Value.Length != 0 && string.Equals(Entries[index - 1].Value, value, StringComparison.Ordinal))
            {
                return index;
            }
        }

        return 0;
    }

    private static Dictionary<string, int> BuildNameIndices()
    {
        var indices = new Dictionary<string, int>(StringComparer.OrdinalIgnoreCase);
        for (int i = 0; i < Entries.Length; i++)
        {
            indices.TryAdd(Entries[i].Name, i + 1);
        }

        return indices;
    }
}
