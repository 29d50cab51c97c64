namespace H2Middleware.Hpack;

/// <summary>
/// The Huffman code of RFC 7541 Appendix B. That code is canonical (codes of one length are consecutive, in symbol
/// order, and shorter codes come first), so the table is stored as the code length of each symbol and the codes are
/// derived from it. Decoding looks up the first 8 bits in a table (every symbol of 8 bits or fewer resolves at once)
/// and walks the canonical code length by length for the rare longer ones.
/// </summary>
internal static class HuffmanCodec
{
    private const int SymbolCount = 257;
    private const int Eos = 256;
    private const int MaxCodeLength = 30;
    private const int FastBits = 8;

    // RFC 7541 Appendix B: the code length of symbols 0..256 (256 is EOS).
    private static ReadOnlySpan<byte> CodeLengths =>
    [
        13, 23, 28, 28, 28, 28, 28, 28, 28, 24, 30, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 28,
        6, 10, 10, 12, 13, 6, 8, 11, 10, 10, 8, 11, 8, 6, 6, 6, 5, 5, 5, 6, 6, 6, 6, 6, 6, 6, 7, 8, 15, 6, 12, 10,
        13, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 8, 7, 8, 13, 19, 13, 14, 6,
        15, 5, 6, 5, 6, 5, 6, 6, 6, 5, 7, 7, 6, 6, 6, 5, 6, 7, 6, 5, 5, 6, 7, 7, 7, 7, 7, 15, 11, 14, 13, 28,
        20, 22, 20, 20, 22, 22, 22, 23, 22, 23, 23, 23, 23, 23, 24, 23, 24, 24, 22, 23, 24, 23, 23, 23, 23, 21, 22, 23, 22, 23, 23, 24,
        22, 21, 20, 22, 22, 23, 23, 21, 23, 22, 22, 24, 21, 22, 23, 23, 21, 21, 22, 21, 23, 22, 23, 23, 20, 22, 22, 22, 23, 22, 22, 23,
        26, 26, 20, 19, 22, 23, 22, 25, 26, 26, 26, 27, 27, 26, 24, 25, 19, 21, 26, 27, 27, 26, 27, 24, 21, 21, 26, 26, 28, 27, 27, 27,
        20, 24, 20, 21, 22, 21, 21, 23, 22, 22, 25, 25, 24, 24, 26, 23, 26, 27, 26, 26, 27, 27, 27, 27, 27, 28, 27, 27, 27, 27, 27, 26,
        30,
    ];

    private static readonly uint[] Codes = new uint[SymbolCount];

    // Canonical decoding: for each length, the first code, how many codes it has, and where its symbols start in SymbolsByCode.
    private static readonly uint[] FirstCode = new uint[MaxCodeLength + 1];
    private static readonly int[] CountByLength = new int[MaxCodeLength + 1];
    private static readonly int[] FirstSymbolIndex = new int[MaxCodeLength + 1];
    private static readonly short[] SymbolsByCode = new short[SymbolCount];

    // For each 8-bit prefix: (symbol << 8 | length) when a code of 8 bits or fewer starts it, else 0.
    private static readonly ushort[] FastTable = new ushort[1 << FastBits];

    static HuffmanCodec()
    {
        int index = 0;
        uint code = 0;
        for (int length = 1; length <= MaxCodeLength; length++)
        {
            FirstCode[length] = code;
            FirstSymbolIndex[length] = index;
            for (int symbol = 0; symbol < SymbolCount; symbol++)
            {
                if (CodeLengths[symbol] == length)
                {
                    Codes[symbol] = code++;
                    SymbolsByCode[index++] = (short)symbol;
                    CountByLength[length]++;
                }
            }

            code <<= 1;
        }

        for (int symbol = 0; symbol < SymbolCount; symbol++)
        {
            int length = CodeLengths[symbol];
            if (length > FastBits)
            {
                continue;
            }

            int first = (int)(Codes[symbol] << (FastBits - length));
            for (int fill = 0; fill < 1 << (FastBits - length); fill++)
            {
                FastTable[first + fill] = (ushort)((symbol << 8) | length);
            }
        }
    }

    /// <summary>The code and its length for a symbol, for tests and tools.</summary>
    public static (uint Code, int Length) GetCode(int symbol) => (Codes[symbol], CodeLengths[symbol]);

    /// <summary>
    /// Decodes <paramref name="source"/> into <paramref name="destination"/>; returns the decoded length.
    /// Enforces §5.2: EOS must not appear, and the padding must be fewer than 8 bits, all ones.
    /// </summary>
    public static int Decode(ReadOnlySpan<byte> source, Span<byte> destination)
    {
        ulong bits = 0;
        int bitCount = 0;
        int read = 0;
        int written = 0;
        while (true)
        {
            while (bitCount <= 56 && read < source.Length)
            {
                bits |= (ulong)source[read++] << (56 - bitCount);
                bitCount += 8;
            }

            if (bitCount == 0)
            {
                return written;
            }

            int symbol;
            int length;
            ushort fast = FastTable[(int)(bits >> (64 - FastBits))];
            if (fast != 0 && (fast & 0xFF) <= bitCount)
            {
                symbol = fast >> 8;
                length = fast & 0xFF;
            }
            else if (!TryDecodeLong(bits, bitCount, out symbol, out length))
            {
                // What is left is not a whole code: it must be padding (§5.2).
                ulong paddingMask = ((1UL << bitCount) - 1) << (64 - bitCount);
                if (bitCount > 7 || (bits & paddingMask) != paddingMask)
                {
                    throw new HpackDecodingException(HpackDecodingError.InvalidHuffmanCode, "invalid Huffman padding");
                }

                return written;
            }

            if (symbol == Eos)
            {
                throw new HpackDecodingException(HpackDecodingError.InvalidHuffmanCode, "EOS in a Huffman string");
            }

            if (written == destination.Length)
            {
                throw new HpackDecodingException(HpackDecodingError.StringTooLong, "Huffman string longer than allowed");
            }

            destination[written++] = (byte)symbol;
            bits <<= length;
            bitCount -= length;
        }
    }

    private static bool TryDecodeLong(ulong bits, int bitCount, out int symbol, out int length)
    {
        int limit = Math.Min(bitCount, MaxCodeLength);
        for (length = 5; length <= limit; length++)
        {
            uint code = (uint)(bits >> (64 - length));
            uint offset = code - FirstCode[length];
            if (code >= FirstCode[length] && offset < (uint)CountByLength[length])
            {
                symbol = SymbolsByCode[FirstSymbolIndex[length] + (int)offset];
                return true;
            }
        }

        symbol = 0;
        return false;
    }

    /// <summary>The encoded length in octets of a Latin-1 string, as <see cref="Encode(ReadOnlySpan{char}, Span{byte}, bool)"/> would write it.</summary>
    public static int GetEncodedLength(ReadOnlySpan<char> source, bool toLowercase)
    {
        long bits = 0;
        foreach (char c in source)
        {
            bits += CodeLengths[toLowercase && c is >= 'A' and <= 'Z' ? c | 0x20 : c & 0xFF];
        }

        return (int)((bits + 7) >> 3);
    }

    public static int GetEncodedLength(ReadOnlySpan<byte> source)
    {
        long bits = 0;
        foreach (byte b in source)
        {
            bits += CodeLengths[b];
        }

        return (int)((bits + 7) >> 3);
    }

    /// <summary>Encodes chars (Latin-1), optionally lowercasing ASCII letters; pads with ones (§5.2). Returns octets written.</summary>
    public static int Encode(ReadOnlySpan<char> source, Span<byte> destination, bool toLowercase)
    {
        ulong bits = 0;
        int bitCount = 0;
        int written = 0;
        foreach (char raw in source)
        {
            int symbol = toLowercase && raw is >= 'A' and <= 'Z' ? raw | 0x20 : raw & 0xFF;
            Append(ref bits, ref bitCount, Codes[symbol], CodeLengths[symbol], destination, ref written);
        }

        return Finish(bits, bitCount, destination, written);
    }

    public static int Encode(ReadOnlySpan<byte> source, Span<byte> destination)
    {
        ulong bits = 0;
        int bitCount = 0;
        int written = 0;
        foreach (byte symbol in source)
        {
            Append(ref bits, ref bitCount, Codes[symbol], CodeLengths[symbol], destination, ref written);
        }

        return Finish(bits, bitCount, destination, written);
    }

    private static void Append(ref ulong bits, ref int bitCount, uint code, int length, Span<byte> destination, ref int written)
    {
        bits = (bits << length) | code;
        bitCount += length;
        while (bitCount >= 8)
        {
            bitCount -= 8;
            destination[written++] = (byte)(bits >> bitCount);
        }
    }

    private static int Finish(ulong bits, int bitCount, Span<byte> destination, int written)
    {
        if (bitCount > 0)
        {
            destination[written++] = (byte)((bits << (8 - bitCount)) | (0xFFu >> bitCount));
        }

        return written;
    }
}
