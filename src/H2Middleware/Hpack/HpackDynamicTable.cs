namespace H2Middleware.Hpack;

/// <summary>
/// The decoder's dynamic table (RFC 7541 §2.3.2, §4): entries are kept as bytes in one buffer so that lookups hand out
/// spans and inserts allocate nothing in steady state. Entries are appended at the end of the live region; when the
/// buffer's end is reached the live region moves back to the start. Storage is allocated on the first insertion and
/// grows geometrically to twice the table size, so a peer that never indexes a field costs the table nothing.
/// </summary>
internal sealed class HpackDynamicTable
{
    /// <summary>§4.1: the size of an entry is its name and value lengths plus 32.</summary>
    public const int EntryOverhead = 32;

    private const int MinimumByteCapacity = 128;
    private const int MinimumEntryCapacity = 8;

    private struct Entry
    {
        public int Offset;
        public int NameLength;
        public int ValueLength;
        public int StaticNameIndex;
    }

    private byte[] _bytes = [];
    private Entry[] _entries = [];
    private int _oldest;
    private int _count;
    private int _liveStart;
    private int _liveEnd;

    public HpackDynamicTable(int maxSize) => MaxSize = maxSize;

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
            MakeRoom(length);
        }

        if (_count == _entries.Length)
        {
            GrowEntries();
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

    /// <summary>
    /// Makes room for <paramref name="length"/> more bytes at the live region's end. The live bytes plus the new ones are
    /// below the table size (every entry also counts 32 octets of overhead), so a buffer of twice the table size always
    /// has them in its first half: moving them back to the start then costs at most what half a buffer of inserts did.
    /// Below that size the buffer doubles instead, while the live bytes fill more than half of it.
    /// </summary>
    private void MakeRoom(int length)
    {
        int needed = _liveEnd - _liveStart + length;
        int limit = 2 * MaxSize;
        int capacity = _bytes.Length < limit && 2 * needed > _bytes.Length
            ? Math.Min(limit, Math.Max(Math.Max(2 * needed, 2 * _bytes.Length), MinimumByteCapacity))
            : _bytes.Length;
        byte[] target = capacity == _bytes.Length ? _bytes : new byte[capacity];
        _bytes.AsSpan(_liveStart, _liveEnd - _liveStart).CopyTo(target);
        for (int i = 0; i < _count; i++)
        {
            _entries[(_oldest + i) % _entries.Length].Offset -= _liveStart;
        }

        _liveEnd -= _liveStart;
        _liveStart = 0;
        _bytes = target;
    }

    /// <summary>
    /// Doubles the entry ring, its entries in order from slot 0. Each entry counts at least 32 octets, so the table
    /// never holds more than its size / 32 of them.
    /// </summary>
    private void GrowEntries()
    {
        var entries = new Entry[Math.Min(Math.Max(2 * _count, MinimumEntryCapacity), MaxSize / EntryOverhead)];
        for (int i = 0; i < _count; i++)
        {
            entries[i] = _entries[(_oldest + i) % _entries.Length];
        }

        _entries = entries;
        _oldest = 0;
    }
}
