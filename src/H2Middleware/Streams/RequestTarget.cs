using System.Buffers;
using System.Text;

namespace H2Middleware.Streams;

/// <summary>
/// Turns an origin-form <c>:path</c> into the Path and QueryString ASP.NET Core expects: the path percent-decoded
/// as UTF-8 (except <c>%2F</c>, which would change the segments) with dot segments removed (RFC 3986 §5.2.4).
/// </summary>
internal static class RequestTarget
{
    public static bool TrySplit(string rawTarget, out string path, out string query)
    {
        int queryStart = rawTarget.IndexOf('?');
        string rawPath = queryStart < 0 ? rawTarget : rawTarget[..queryStart];
        query = queryStart < 0 ? string.Empty : rawTarget[queryStart..];
        if (rawPath.Length == 0 || rawPath[0] != '/')
        {
            path = string.Empty;
            return false;
        }

        if (!NeedsRewrite(rawPath))
        {
            path = rawPath;
            return true;
        }

        return TryDecodeAndNormalize(rawPath, out path);
    }

    private static bool NeedsRewrite(string rawPath)
    {
        if (rawPath.Contains('%'))
        {
            return true;
        }

        // A dot segment is "/." or "/.." followed by "/" or the end.
        int dot = rawPath.IndexOf("/.", StringComparison.Ordinal);
        return dot >= 0;
    }

    private static bool TryDecodeAndNormalize(string rawPath, out string path)
    {
        byte[] rented = ArrayPool<byte>.Shared.Rent(rawPath.Length);
        try
        {
            int length = 0;
            for (int i = 0; i < rawPath.Length; i++)
            {
                char c = rawPath[i];
                if (c > 0x7F)
                {
                    path = string.Empty;
                    return false;
                }

                if (c == '%' && i + 2 < rawPath.Length && IsHex(rawPath[i + 1]) && IsHex(rawPath[i + 2]))
                {
                    int value = (HexValue(rawPath[i + 1]) << 4) | HexValue(rawPath[i + 2]);
                    if (value == 0)
                    {
                        // A NUL in a path is never a name an application means (Kestrel refuses it too).
                        path = string.Empty;
                        return false;
                    }

                    if (value != '/')
                    {
                        rented[length++] = (byte)value;
                        i += 2;
                        continue;
                    }
                }

                rented[length++] = (byte)c;
            }

            length = RemoveDotSegments(rented.AsSpan(0, length));
            try
            {
                path = new UTF8Encoding(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true).GetString(rented, 0, length);
            }
            catch (DecoderFallbackException)
            {
                // Escapes that are not UTF-8 (a Latin-1 URL, say) stay escaped, as Kestrel leaves them: the path is the
                // raw one with its dot segments removed, every escape kept.
                length = Encoding.ASCII.GetBytes(rawPath, rented);
                path = Encoding.ASCII.GetString(rented, 0, RemoveDotSegments(rented.AsSpan(0, length)));
            }

            return true;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(rented);
        }
    }

    /// <summary>Removes "." and ".." segments in place; returns the new length. The input starts with '/'.</summary>
    internal static int RemoveDotSegments(Span<byte> path)
    {
        int read = 0;
        int write = 0;
        while (read < path.Length)
        {
            // path[read] is '/': look at the segment that follows it.
            int segmentStart = read + 1;
            int segmentEnd = path[segmentStart..].IndexOf((byte)'/');
            segmentEnd = segmentEnd < 0 ? path.Length : segmentStart + segmentEnd;
            Span<byte> segment = path[segmentStart..segmentEnd];
            bool last = segmentEnd == path.Length;

            if (segment.Length == 1 && segment[0] == '.')
            {
                if (last)
                {
                    path[write++] = (byte)'/';
                }
            }
            else if (segment.Length == 2 && segment[0] == '.' && segment[1] == '.')
            {
                int previousSlash = write == 0 ? -1 : path[..write].LastIndexOf((byte)'/');
                write = previousSlash < 0 ? 0 : previousSlash;
                if (last)
                {
                    path[write++] = (byte)'/';
                }
            }
            else
            {
                path[read..segmentEnd].CopyTo(path[write..]);
                write += segmentEnd - read;
            }

            read = segmentEnd;
        }

        if (write == 0)
        {
            path[write++] = (byte)'/';
        }

        return write;
    }

    private static bool IsHex(char c) => char.IsAsciiHexDigit(c);

    private static int HexValue(char c) => c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;
}
