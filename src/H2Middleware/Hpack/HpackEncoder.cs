using System.Buffers;
using H2Middleware.Frames;

namespace H2Middleware.Hpack;

/// <summary>
/// Encodes header blocks (RFC 7541) into an <see cref="IBufferWriter{T}"/>. Fields that will recur are indexed;
/// credentials and cookies never are (§7.1.3); a string is Huffman-coded when that is shorter. Names go out in
/// lowercase, as HTTP/2 requires, whatever case the application used.
/// </summary>
internal sealed class HpackEncoder
{
    private static readonly string[] StatusStrings = new string[1000];

    private readonly int _maxTableSizeCap;
    private readonly HpackEncoderTable _table;
    private bool _sizeUpdatePending;
    private int _smallestPendingSize;

    /// <param name="maxDynamicTableSize">Our own cap on the table; it never exceeds the peer's SETTINGS_HEADER_TABLE_SIZE either.</param>
    public HpackEncoder(int maxDynamicTableSize = 4096)
    {
        _maxTableSizeCap = maxDynamicTableSize;
        _table = new HpackEncoderTable(Math.Min(maxDynamicTableSize, Http2Limits.DefaultHeaderTableSize));
        if (_table.MaxSize != Http2Limits.DefaultHeaderTableSize)
        {
            // The peer assumes 4,096 until told otherwise (§4.2).
            _sizeUpdatePending = true;
            _smallestPendingSize = _table.MaxSize;
        }
    }

    public int DynamicTableSize => _table.Size;

    public int DynamicTableCount => _table.Count;

    /// <summary>The peer changed SETTINGS_HEADER_TABLE_SIZE; the next block starts with the size update(s) §4.2 requires.</summary>
    public void SetPeerHeaderTableSize(uint size)
    {
        int newSize = (int)Math.Min(size, (uint)_maxTableSizeCap);
        if (newSize == _table.MaxSize && !_sizeUpdatePending)
        {
            return;
        }

        _smallestPendingSize = _sizeUpdatePending ? Math.Min(_smallestPendingSize, newSize) : Math.Min(_table.MaxSize, newSize);
        _sizeUpdatePending = true;
        _table.SetMaxSize(newSize);
    }

    public void BeginHeaderBlock(IBufferWriter<byte> output)
    {
        if (!_sizeUpdatePending)
        {
            return;
        }

        _sizeUpdatePending = false;
        if (_smallestPendingSize < _table.MaxSize)
        {
            WriteSizeUpdate(_smallestPendingSize, output);
        }

        WriteSizeUpdate(_table.MaxSize, output);
    }

    public void EncodeStatus(int statusCode, IBufferWriter<byte> output)
    {
        int staticIndex = statusCode switch
        {
            200 => 8,
            204 => 9,
            206 => 10,
            304 => 11,
            400 => 12,
            404 => 13,
            500 => 14,
            _ => 0,
        };
        if (staticIndex != 0)
        {
            WriteIndexed(staticIndex, output);
            return;
        }

        string value = (uint)statusCode < 1000 ? StatusStrings[statusCode] ??= statusCode.ToString(System.Globalization.CultureInfo.InvariantCulture) : statusCode.ToString(System.Globalization.CultureInfo.InvariantCulture);
        EncodeHeader(":status", value, output);
    }

    public void EncodeHeader(string name, string value, IBufferWriter<byte> output, bool sensitive = false)
    {
        int staticNameIndex = HpackStaticTable.FindName(name);
        if (staticNameIndex != 0)
        {
            int staticFieldIndex = HpackStaticTable.FindField(staticNameIndex, value);
            if (staticFieldIndex != 0)
            {
                WriteIndexed(staticFieldIndex, output);
                return;
            }
        }

        sensitive |= IsSensitive(staticNameIndex);
        bool valueMatches = false;
        int dynamicIndex = sensitive ? 0 : _table.Find(name, value, out valueMatches);
        if (dynamicIndex != 0 && valueMatches)
        {
            WriteIndexed(HpackStaticTable.Count + dynamicIndex, output);
            return;
        }

        int nameIndex = staticNameIndex != 0 ? staticNameIndex : dynamicIndex != 0 ? HpackStaticTable.Count + dynamicIndex : 0;
        if (sensitive)
        {
            WriteLiteral(0x10, 4, nameIndex, name, value, output);
            return;
        }

        if (ShouldIndex(staticNameIndex, name, value))
        {
            WriteLiteral(0x40, 6, nameIndex, name, value, output);
            _table.Add(name, value);
        }
        else
        {
            WriteLiteral(0x00, 4, nameIndex, name, value, output);
        }
    }

    // Static table indices (RFC 7541 Appendix A) of the fields that decide the indexing policy: every such name is in
    // the static table, so the policy costs an integer comparison instead of string comparisons.
    private const int AgeIndex = 21;
    private const int AuthorizationIndex = 23;
    private const int ContentLengthIndex = 28;
    private const int CookieIndex = 32;
    private const int ETagIndex = 34;
    private const int LastModifiedIndex = 44;
    private const int ProxyAuthorizationIndex = 49;
    private const int SetCookieIndex = 55;
    private const int PathIndex = 4;

    private static bool IsSensitive(int staticNameIndex) =>
        staticNameIndex is AuthorizationIndex or ProxyAuthorizationIndex or CookieIndex or SetCookieIndex;

    /// <summary>Index what is likely to recur and small enough not to flush the table; skip per-response values.</summary>
    private bool ShouldIndex(int staticNameIndex, string name, string value) =>
        HpackEncoderTable.EntrySize(name, value) <= _table.MaxSize / 4
        && staticNameIndex is not (ContentLengthIndex or PathIndex or ETagIndex or AgeIndex or LastModifiedIndex);

    private static void WriteIndexed(int index, IBufferWriter<byte> output)
    {
        Span<byte> span = output.GetSpan(HpackInteger.MaxEncodedLength);
        output.Advance(HpackInteger.Encode(index, 7, 0x80, span));
    }

    private static void WriteSizeUpdate(int size, IBufferWriter<byte> output)
    {
        Span<byte> span = output.GetSpan(HpackInteger.MaxEncodedLength);
        output.Advance(HpackInteger.Encode(size, 5, 0x20, span));
    }

    private static void WriteLiteral(byte pattern, int prefixBits, int nameIndex, string name, string value, IBufferWriter<byte> output)
    {
        Span<byte> span = output.GetSpan(HpackInteger.MaxEncodedLength);
        output.Advance(HpackInteger.Encode(nameIndex, prefixBits, pattern, span));
        if (nameIndex == 0)
        {
            WriteString(name, toLowercase: true, output);
        }

        WriteString(value, toLowercase: false, output);
    }

    private static void WriteString(string value, bool toLowercase, IBufferWriter<byte> output)
    {
        ReadOnlySpan<char> chars = value;
        foreach (char c in chars)
        {
            // A plain loop: ContainsAnyExceptInRange on chars allocates on this runtime (measured, 96 B a call).
            if (c > 0xFF)
            {
                throw new InvalidOperationException("A header field contains a character outside Latin-1.");
            }
        }

        int huffmanLength = HuffmanCodec.GetEncodedLength(chars, toLowercase);
        bool huffman = huffmanLength < chars.Length;
        int length = huffman ? huffmanLength : chars.Length;
        Span<byte> span = output.GetSpan(HpackInteger.MaxEncodedLength + length);
        int written = HpackInteger.Encode(length, 7, huffman ? (byte)0x80 : (byte)0, span);
        if (huffman)
        {
            written += HuffmanCodec.Encode(chars, span[written..], toLowercase);
        }
        else
        {
            Span<byte> raw = span.Slice(written, length);
            for (int i = 0; i < chars.Length; i++)
            {
                char c = chars[i];
                raw[i] = (byte)(toLowercase && c is >= 'A' and <= 'Z' ? c | 0x20 : c);
            }

            written += length;
        }

        output.Advance(written);
    }
}
