using System.Buffers;

using H2Middleware.Frames;

namespace H2Middleware.Hpack;

/// <summary>
/// Decodes header blocks (RFC 7541) into an <see cref="IHpackHeaderSink"/>. A block may arrive in any number of
/// fragments cut at any byte: an incomplete representation at the end of a fragment is kept (bounded by the string
/// limit) and completed by the next one. Literal strings reach the sink as spans of the input; Huffman strings are
/// decoded into buffers the decoder owns, so decoding allocates nothing in steady state.
/// </summary>
internal sealed class HpackDecoder
{
    private int _maxAdvertisedTableSize;
    private readonly int _maxHeaderListSize;
    private readonly int _maxStringLength;
    private readonly HpackDynamicTable _table;
    private byte[] _pending = [];
    private int _pendingLength;
    private byte[] _nameBuffer = [];
    private byte[] _valueBuffer = [];
    private bool _atBlockStart = true;
    private bool _sizeUpdateRequired;
    private long _headerListSize;

    public HpackDecoder(int maxDynamicTableSize = 4096, int maxHeaderListSize = 65536, int maxStringLength = 65536)
    {
        _maxAdvertisedTableSize = maxDynamicTableSize;
        _maxHeaderListSize = maxHeaderListSize;
        _maxStringLength = maxStringLength;

        // The table starts at the protocol's initial size; the encoder moves it (within our limit) with size updates (§4.2).
        _table = new HpackDynamicTable(Math.Min(maxDynamicTableSize, Http2Limits.DefaultHeaderTableSize));
    }

    /// <summary>The SETTINGS_HEADER_TABLE_SIZE we advertise, once the peer has acknowledged it: the ceiling for size updates.</summary>
    public int MaxAllowedTableSize
    {
        get => _maxAdvertisedTableSize;
        set => _maxAdvertisedTableSize = value;
    }

    /// <summary>
    /// The peer acknowledged our SETTINGS_HEADER_TABLE_SIZE (RFC 9113 §4.3.1): from now on it is the limit, and if it is
    /// below the table's current maximum the peer's next header block must start with a size update that obeys it.
    /// Until then the peer may use the table at the size in force before (4,096 at first).
    /// </summary>
    public void ApplyAcknowledgedTableSizeLimit(int limit)
    {
        _maxAdvertisedTableSize = limit;
        _sizeUpdateRequired |= limit < _table.MaxSize;
    }

    public int DynamicTableSize => _table.Size;

    public int DynamicTableCount => _table.Count;

    /// <summary>
    /// Lets the Huffman scratch buffers go (and the buffer of a representation cut between fragments, when none is):
    /// the connection is idle, and they are made again by the next block that needs them. The table stays: it is the
    /// peer's state.
    /// </summary>
    public void ReleaseBuffers()
    {
        _nameBuffer = [];
        _valueBuffer = [];
        if (_pendingLength == 0)
        {
            _pending = [];
        }
    }

    public void Decode(in ReadOnlySequence<byte> fragment, bool endHeaders, IHpackHeaderSink sink)
    {
        if (fragment.IsSingleSegment)
        {
            Decode(fragment.FirstSpan, endHeaders, sink);
            return;
        }

        int length = checked((int)fragment.Length);
        byte[] rented = ArrayPool<byte>.Shared.Rent(length);
        try
        {
            fragment.CopyTo(rented);
            Decode(rented.AsSpan(0, length), endHeaders, sink);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(rented);
        }
    }

    public void Decode(ReadOnlySpan<byte> fragment, bool endHeaders, IHpackHeaderSink sink)
    {
        if (_pendingLength == 0)
        {
            int consumed = DecodeRepresentations(fragment, sink);
            KeepPending(fragment[consumed..]);
        }
        else
        {
            // A representation straddles the fragments: join its start with the new bytes.
            EnsureCapacity(ref _pending, _pendingLength + fragment.Length);
            fragment.CopyTo(_pending.AsSpan(_pendingLength));
            int joinedLength = _pendingLength + fragment.Length;
            int consumed = DecodeRepresentations(_pending.AsSpan(0, joinedLength), sink);
            _pending.AsSpan(consumed, joinedLength - consumed).CopyTo(_pending);
            _pendingLength = joinedLength - consumed;
        }

        if (!endHeaders)
        {
            return;
        }

        int truncatedLength = _pendingLength;
        bool tooLarge = _headerListSize > _maxHeaderListSize;
        _pendingLength = 0;
        _headerListSize = 0;
        _atBlockStart = true;
        if (truncatedLength != 0)
        {
            HpackDecodingError error = ClassifyTruncation(_pending.AsSpan(0, truncatedLength));
            throw new HpackDecodingException(error, error == HpackDecodingError.TruncatedInteger
                ? "the header block ends inside an integer"
                : "the header block ends inside a string literal");
        }

        if (tooLarge)
        {
            throw new HpackDecodingException(HpackDecodingError.HeaderListTooLarge, "the header list is larger than SETTINGS_MAX_HEADER_LIST_SIZE");
        }
    }

    /// <summary>Where an incomplete representation at the end of a block stops: in one of its integers or in a string.</summary>
    private static HpackDecodingError ClassifyTruncation(ReadOnlySpan<byte> rest)
    {
        byte first = rest[0];
        bool literal = (first & 0x80) == 0 && (first & 0xE0) != 0x20;
        int prefixBits = (first & 0x80) != 0 ? 7 : (first & 0xE0) == 0x20 ? 5 : (first & 0xC0) == 0x40 ? 6 : 4;
        if (!HpackInteger.TryDecode(rest, prefixBits, out int nameIndex, out int position) || !literal)
        {
            return HpackDecodingError.TruncatedInteger;
        }

        if (nameIndex == 0 && !SkipString(rest, ref position, out HpackDecodingError nameError))
        {
            return nameError;
        }

        return SkipString(rest, ref position, out HpackDecodingError valueError) ? HpackDecodingError.TruncatedString : valueError;
    }

    private static bool SkipString(ReadOnlySpan<byte> source, ref int position, out HpackDecodingError truncation)
    {
        if (position >= source.Length || !HpackInteger.TryDecode(source[position..], 7, out int length, out int used))
        {
            truncation = HpackDecodingError.TruncatedInteger;
            return false;
        }

        truncation = HpackDecodingError.TruncatedString;
        position += used + length;
        return position <= source.Length;
    }

    private void KeepPending(ReadOnlySpan<byte> rest)
    {
        if (rest.IsEmpty)
        {
            return;
        }

        EnsureCapacity(ref _pending, rest.Length);
        rest.CopyTo(_pending);
        _pendingLength = rest.Length;
    }

    /// <summary>Decodes whole representations; returns how many bytes they used (the rest is an incomplete one).</summary>
    private int DecodeRepresentations(ReadOnlySpan<byte> source, IHpackHeaderSink sink)
    {
        int position = 0;
        while (position < source.Length)
        {
            int used = DecodeRepresentation(source[position..], sink);
            if (used == 0)
            {
                break;
            }

            position += used;
        }

        return position;
    }

    /// <summary>Decodes one representation (§6); returns the bytes it took, or 0 if it is incomplete.</summary>
    private int DecodeRepresentation(ReadOnlySpan<byte> source, IHpackHeaderSink sink)
    {
        byte first = source[0];
        if (_sizeUpdateRequired && (first & 0xE0) != 0x20)
        {
            throw new HpackDecodingException(HpackDecodingError.TableSizeUpdateMissing, "a reduced SETTINGS_HEADER_TABLE_SIZE was not followed by a dynamic table size update");
        }
        if ((first & 0x80) != 0)
        {
            // §6.1 Indexed Header Field.
            if (!HpackInteger.TryDecode(source, 7, out int fieldIndex, out int used))
            {
                return 0;
            }

            GetIndexed(fieldIndex, out ReadOnlySpan<byte> name, out ReadOnlySpan<byte> value, out int staticNameIndex);
            Emit(sink, staticNameIndex, name, value);
            _atBlockStart = false;
            return used;
        }

        if ((first & 0xE0) == 0x20)
        {
            // §6.3 Dynamic Table Size Update.
            if (!HpackInteger.TryDecode(source, 5, out int size, out int used))
            {
                return 0;
            }

            if (!_atBlockStart)
            {
                throw new HpackDecodingException(HpackDecodingError.TableSizeUpdateNotAtBlockStart, "dynamic table size update after a field");
            }

            if (size > _maxAdvertisedTableSize)
            {
                throw new HpackDecodingException(HpackDecodingError.TableSizeUpdateTooLarge, "dynamic table size update above SETTINGS_HEADER_TABLE_SIZE");
            }

            _table.SetMaxSize(size);
            _sizeUpdateRequired = false;
            return used;
        }


        // §6.2 Literal Header Field: with incremental indexing (01), without indexing (0000), never indexed (0001).
        bool index = (first & 0xC0) == 0x40;
        int prefixBits = index ? 6 : 4;
        if (!HpackInteger.TryDecode(source, prefixBits, out int nameIndex, out int position))
        {
            return 0;
        }

        ReadOnlySpan<byte> fieldName;
        int fieldStaticNameIndex;
        if (nameIndex == 0)
        {
            if (!TryReadString(source, ref position, ref _nameBuffer, out fieldName))
            {
                return 0;
            }

            fieldStaticNameIndex = 0;
        }
        else
        {
            GetIndexed(nameIndex, out fieldName, out _, out fieldStaticNameIndex);
        }

        if (!TryReadString(source, ref position, ref _valueBuffer, out ReadOnlySpan<byte> fieldValue))
        {
            return 0;
        }

        _atBlockStart = false;
        Emit(sink, fieldStaticNameIndex, fieldName, fieldValue);
        if (index)
        {
            // The name may be a span of the table itself; Add copies before it can evict what it reads.
            AddToTable(fieldName, fieldValue, fieldStaticNameIndex);
        }

        return position;
    }

    private void AddToTable(ReadOnlySpan<byte> name, ReadOnlySpan<byte> value, int staticNameIndex)
    {
        if (name.Overlaps(_table.Bytes))
        {
            EnsureCapacity(ref _nameBuffer, name.Length);
            name.CopyTo(_nameBuffer);
            name = _nameBuffer.AsSpan(0, name.Length);
        }

        _table.Add(name, value, staticNameIndex);
    }

    private bool TryReadString(ReadOnlySpan<byte> source, scoped ref int position, ref byte[] huffmanBuffer, out ReadOnlySpan<byte> value)
    {
        value = default;
        if (position >= source.Length)
        {
            return false;
        }

        bool huffman = (source[position] & 0x80) != 0;
        if (!HpackInteger.TryDecode(source[position..], 7, out int length, out int used))
        {
            return false;
        }

        // A Huffman code is at most 30 bits, so a string within the limit takes at most 4 octets per character.
        if (length > _maxStringLength * (huffman ? 4L : 1L))
        {
            throw new HpackDecodingException(HpackDecodingError.StringTooLong, "string literal longer than allowed");
        }

        if (position + used + length > source.Length)
        {
            return false;
        }

        ReadOnlySpan<byte> raw = source.Slice(position + used, length);
        position += used + length;
        if (!huffman)
        {
            value = raw;
            return true;
        }

        // Each symbol takes at least 5 bits, so the decoded string is at most 8/5 of the encoded one.
        int maxDecoded = Math.Min(_maxStringLength, (length * 8 / 5) + 1);
        EnsureCapacity(ref huffmanBuffer, maxDecoded);
        int decoded = HuffmanCodec.Decode(raw, huffmanBuffer.AsSpan(0, maxDecoded));
        value = huffmanBuffer.AsSpan(0, decoded);
        return true;
    }

    private void GetIndexed(int index, out ReadOnlySpan<byte> name, out ReadOnlySpan<byte> value, out int staticNameIndex)
    {
        if (index == 0)
        {
            throw new HpackDecodingException(HpackDecodingError.InvalidIndex, "index 0");
        }

        if (index <= HpackStaticTable.Count)
        {
            name = HpackStaticTable.NameSpan(index);
            value = HpackStaticTable.ValueSpan(index);
            staticNameIndex = index;
            return;
        }

        int dynamicIndex = index - HpackStaticTable.Count;
        if (dynamicIndex > _table.Count)
        {
            throw new HpackDecodingException(HpackDecodingError.InvalidIndex, "index past the dynamic table");
        }

        _table.Get(dynamicIndex, out name, out value, out staticNameIndex);
    }

    private void Emit(IHpackHeaderSink sink, int staticNameIndex, ReadOnlySpan<byte> name, ReadOnlySpan<byte> value)
    {
        _headerListSize += name.Length + value.Length + HpackDynamicTable.EntryOverhead;
        if (_headerListSize <= _maxHeaderListSize)
        {
            sink.OnHeader(staticNameIndex, name, value);
        }
    }

    private static void EnsureCapacity(ref byte[] buffer, int length)
    {
        if (buffer.Length < length)
        {
            Array.Resize(ref buffer, Math.Max(length, Math.Max(64, buffer.Length * 2)));
        }
    }
}
