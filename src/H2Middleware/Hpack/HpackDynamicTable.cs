namespace H2Middleware.Hpack;

/// <summary>
/// The decoder's dynamic table (RFC 7541 §2.3.2, §4): entries are kept as bytes in one buffer so that lookups hand out
/// spans and inserts allocate nothing. Entries are appended at the end of the live region; when the buffer's end is
/// reached the live region (at most the table size) moves back to the start.
/// </summary>
internal sealed class HpackDynamicTable
{
    /// <summary>§4.1: the size of an entry is its name and value lengths plus 32.</summary>
    public const int EntryOverhead = 32;

    private struct Entry
    {
        public int Offset;
        public int NameLength;
        public int ValueLength;
        public int StaticNameIndex;
    }

    private byte[] _bytes;
    private Entry[] _entries;
    private int _oldest;
    private int _count;
    private int _liveStart;
    private int _liveEnd;

    public HpackDynamicTable(int maxSize)
    {
        MaxSize = maxSize;
        _bytes = new byte[Math.Max(2 * maxSize, 64)];
        _entries = new Entry[Math.Max(maxSize / EntryOverhead, 4)];
    }

    /// <summary>The table's current size limit (set by size updates), in RFC octets.</summary>
    public int MaxSize { get; private set; }

    /// <summary>The current size in RFC octets.</summary>
    public int Size { get; private set; }

    public int Count => _count;

    /// <summary>The table's storage, so that callers can tell whether a span they hold points into it.</summary>
    public ReadOnlySpan<byte> Bytes => _bytes;

    /// <summary>A dynamic index counted from 1 = newest (RFC index minus 61).</summary>
    public void Get(int index, out ReadOnlySpan<byte> name, out ReadOnlySpan<byte> value, out int staticNameIndex)
    {
        ref Entry entry = ref _entries[(_oldest + _count - index) % _entries.Length];
        name = _bytes.AsSpan(entry.Offset, entry.NameLength);
        value = _bytes.AsSpan(entry.Offset + entry.NameLength, entry.ValueLength);
        staticNameIndex = entry.StaticNameIndex;
    }

    public void SetMaxSize(int maxSize)
    {
        MaxSize = maxSize;
        EvictTo(maxSize);
        if (_bytes.Length < 2 * maxSize)
        {
            Grow(2 * maxSize);
        }
    }

    /// <summary>Adds an entry, evicting as needed; an entry larger than the table empties it and is not added (§4.4).</summary>
    public void Add(ReadOnlySpan<byte> name, ReadOnlySpan<byte> value, int staticNameIndex)
    {
        int entrySize = name.Length + value.Length + EntryOverhead;
        if (entrySize > MaxSize)
        {
            EvictTo(0);
            return;
        }

        EvictTo(MaxSize - entrySize);
        int length = name.Length + value.Length;
        if (_liveEnd + length > _bytes.Length)
        {
            Compact();
        }

        if (_count == _entries.Length)
        {
            Array.Resize(ref _entries, _entries.Length * 2);
            Realign();
        }

        name.CopyTo(_bytes.AsSpan(_liveEnd));
        value.CopyTo(_bytes.AsSpan(_liveEnd + name.Length));
        _entries[(_oldest + _count) % _entries.Length] = new Entry
        {
            Offset = _liveEnd,
            NameLength = name.Length,
            ValueLength = value.Length,
            StaticNameIndex = staticNameIndex,
        };
        _count++;
        _liveEnd += length;
        Size += entrySize;
    }

    private void EvictTo(int targetSize)
    {
        while (Size > targetSize && _count > 0)
        {
            ref Entry oldest = ref _entries[_oldest];
            Size -= oldest.NameLength + oldest.ValueLength + EntryOverhead;
            _liveStart = oldest.Offset + oldest.NameLength + oldest.ValueLength;
            _oldest = (_oldest + 1) % _entries.Length;
            _count--;
        }

        if (_count == 0)
        {
            _liveStart = 0;
            _liveEnd = 0;
        }
    }

    /// <summary>Moves the live bytes to the start of the buffer; they are at most MaxSize, half the buffer.</summary>
    private void Compact()
    {
        int shift = _liveStart;
        _bytes.AsSpan(_liveStart, _liveEnd - _liveStart).CopyTo(_bytes);
        for (int i = 0; i < _count; i++)
        {
            _entries[(_oldest + i) % _entries.Length].Offset -= shift;
        }

        _liveEnd -= shift;
        _liveStart = 0;
    }

    private void Grow(int byteCapacity)
    {
        var bytes = new byte[byteCapacity];
        _bytes.AsSpan(_liveStart, _liveEnd - _liveStart).CopyTo(bytes);
        for (int i = 0; i < _count; i++)
        {
            _entries[(_oldest + i) % _entries.Length].Offset -= _liveStart;
        }

        _liveEnd -= _liveStart;
        _liveStart = 0;
        _bytes = bytes;
    }

    /// <summary>After the entry ring grew, puts its entries back in order from slot 0.</summary>
    private void Realign()
    {
        int oldLength = _entries.Length / 2;
        var ordered = new Entry[_entries.Length];
        for (int i = 0; i < _count; i++)
        {
            ordered[i] = _entries[(_oldest + i) % oldLength];
        }

        _entries = ordered;
        _oldest = 0;
    }
}
