namespace H2Middleware.Hpack;

/// <summary>Prefix-coded integers of RFC 7541 §5.1.</summary>
internal static class HpackInteger
{
    // 2^31-1 needs at most five continuation octets after a full prefix.
    private const int MaxContinuationOctets = 5;

    /// <summary>
    /// Decodes an integer whose prefix occupies the low <paramref name="prefixBits"/> of <c>source[0]</c>.
    /// Returns false when <paramref name="source"/> ends before the integer does. Values above int.MaxValue are an overflow.
    /// </summary>
    public static bool TryDecode(ReadOnlySpan<byte> source, int prefixBits, out int value, out int consumed)
    {
        int prefixMax = (1 << prefixBits) - 1;
        value = source[0] & prefixMax;
        consumed = 1;
        if (value < prefixMax)
        {
            return true;
        }

        long result = prefixMax;
        for (int shift = 0; ; shift += 7)
        {
            if (consumed >= source.Length)
            {
                return false;
            }

            if (consumed > MaxContinuationOctets)
            {
                throw new HpackDecodingException(HpackDecodingError.IntegerOverflow, "HPACK integer uses too many octets");
            }

            byte octet = source[consumed++];
            result += (long)(octet & 0x7F) << shift;
            if (result > int.MaxValue)
            {
                throw new HpackDecodingException(HpackDecodingError.IntegerOverflow, "HPACK integer exceeds 2^31-1");
            }

            if ((octet & 0x80) == 0)
            {
                value = (int)result;
                return true;
            }
        }
    }

    /// <summary>Encodes <paramref name="value"/> with the given prefix; <paramref name="firstOctetFlags"/> fills the bits above it.</summary>
    public static int Encode(int value, int prefixBits, byte firstOctetFlags, Span<byte> destination)
    {
        int prefixMax = (1 << prefixBits) - 1;
        if (value < prefixMax)
        {
            destination[0] = (byte)(firstOctetFlags | value);
            return 1;
        }

        destination[0] = (byte)(firstOctetFlags | prefixMax);
        value -= prefixMax;
        int written = 1;
        while (value >= 0x80)
        {
            destination[written++] = (byte)((value & 0x7F) | 0x80);
            value >>= 7;
        }

        destination[written++] = (byte)value;
        return written;
    }

    public const int MaxEncodedLength = 6;
}
