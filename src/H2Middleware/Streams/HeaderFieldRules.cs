using System.Buffers;

namespace H2Middleware.Streams;

/// <summary>Field name and value rules of RFC 9113 §8.2.1 and §8.2.2 and RFC 9110 §5.6.2.</summary>
internal static class HeaderFieldRules
{
    // Token characters by byte value. Names are short, and a table lookup per byte is as fast for them as SearchValues,
    // whose byte searchers are generic instantiations that ReadyToRun code cannot include: they would start every
    // process in tier-0 JIT code on the request path.
    private static readonly bool[] TokenChars =
        ByteSet("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"u8);

    private static readonly bool[] LowercaseTokenChars =
        ByteSet("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyz"u8);

    private static readonly SearchValues<byte> ForbiddenValueChars = SearchValues.Create([0x00, 0x0A, 0x0D]);

    public static bool IsToken(ReadOnlySpan<byte> value) => !value.IsEmpty && AllIn(value, TokenChars);

    /// <summary>A request field name must be a token with no uppercase letters (§8.2.1 makes uppercase malformed).</summary>
    public static bool IsValidLowercaseName(ReadOnlySpan<byte> name) => !name.IsEmpty && AllIn(name, LowercaseTokenChars);

    /// <summary>No NUL, CR or LF anywhere, and no whitespace at either end (§8.2.1).</summary>
    public static bool IsValidValue(ReadOnlySpan<byte> value)
    {
        if (value.IsEmpty)
        {
            return true;
        }

        if (IsWhitespace(value[0]) || IsWhitespace(value[^1]))
        {
            return false;
        }

        return !value.ContainsAny(ForbiddenValueChars);
    }

    /// <summary>Same value rule for a response value the application set (chars, since headers are strings there).</summary>
    public static bool IsValidValue(ReadOnlySpan<char> value)
    {
        foreach (char c in value)
        {
            if (c is '\0' or '\r' or '\n' || c > 0xFF)
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>The connection-specific fields §8.2.2 forbids in HTTP/2 (their lengths rule most names out at once).</summary>
    public static bool IsConnectionSpecific(ReadOnlySpan<byte> name) => name.Length switch
    {
        7 => name.SequenceEqual("upgrade"u8),
        10 => name.SequenceEqual("connection"u8) || name.SequenceEqual("keep-alive"u8),
        16 => name.SequenceEqual("proxy-connection"u8),
        17 => name.SequenceEqual("transfer-encoding"u8),
        _ => false,
    };

    /// <summary>The same test for a response header name set by the application, in any case.</summary>
    public static bool IsConnectionSpecific(string name) => name.Length switch
    {
        7 => name.Equals("upgrade", StringComparison.OrdinalIgnoreCase),
        10 => name.Equals("connection", StringComparison.OrdinalIgnoreCase) || name.Equals("keep-alive", StringComparison.OrdinalIgnoreCase),
        16 => name.Equals("proxy-connection", StringComparison.OrdinalIgnoreCase),
        17 => name.Equals("transfer-encoding", StringComparison.OrdinalIgnoreCase),
        _ => false,
    };

    public static bool IsValidResponseName(string name)
    {
        if (name.Length == 0)
        {
            return false;
        }

        foreach (char c in name)
        {
            if (c > 0x7F || !TokenChars[c])
            {
                return false;
            }
        }

        return true;
    }

    private static bool IsWhitespace(byte b) => b is (byte)' ' or (byte)'\t';

    private static bool[] ByteSet(ReadOnlySpan<byte> members)
    {
        var set = new bool[256];
        foreach (byte member in members)
        {
            set[member] = true;
        }

        return set;
    }

    private static bool AllIn(ReadOnlySpan<byte> value, bool[] set)
    {
        foreach (byte b in value)
        {
            if (!set[b])
            {
                return false;
            }
        }

        return true;
    }
}
