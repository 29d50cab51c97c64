namespace H2Middleware.Hpack;

/// <summary>
/// The encoder's dynamic table (RFC 7541 §2.3.2): the fields it has told the peer to index, newest first.
/// Fields are kept as the strings the application gave, so finding a match compares strings and allocates nothing.
/// </summary>
internal sealed class HpackEncoderTable
{
    private const int MinimumCapacity = 4;

    // Empty until the first field is indexed, then doubled as needed: a response indexes only a few fields.
    private (string Name, string Value)[] _entries = [];
    private int _oldest;
    private int _count;

    public HpackEncoderTable(int maxSize) => MaxSize = maxSize;

    public int MaxSize { get; private set; }

    public int Size { get; private set; }

    public int Count => _count;

    public static int EntrySize(string name, string value) => name.Length + value.Length + HpackDynamicTable.EntryOverhead;

    public void SetMaxSize(int maxSize)
    {
        MaxSize = maxSize;
        EvictTo(maxSize);
    }

    /// <summary>Finds the field: returns its dynamic index (1 = newest) and whether the value matched too; 0 if not even the name did.</summary>
    public int Find(string name, string value, out bool valueMatches)
    {
        int nameOnly = 0;
        for (int index = 1; index <= _count; index++)
        {
            ref (string Name, string Value) entry = ref _entries[(_oldest + _count - index) % _entries.Length];
            if (!string.Equals(entry.Name, name, StringComparison.OrdinalIgnoreCase))
            {
                continue;
            }

            if (string.Equals(entry.Value, value, StringComparison.Ordinal))
            {
                valueMatches = true;
                return index;
            }

            if (nameOnly == 0)
            {
                nameOnly = index;
            }
        }

        valueMatches = false;
        return nameOnly;
    }

    public void Add(string name, string value)
    {
        int size = EntrySize(name, value);
        if (size > MaxSize)
        {
            EvictTo(0);
            return;
        }

        EvictTo(MaxSize - size);
        if (_count == _entries.Length)
        {
            var grown = new (string, string)[Math.Max(_entries.Length * 2, MinimumCapacity)];
            for (int i = 0; i < _count; i++)
            {
                grown[i] = _entries[(_oldest + i) % _entries.Length];
            }

            _entries = grown;
            _oldest = 0;
        }

        _entries[(_oldest + _count) % _entries.Length] = (name, value);
        _count++;
        Size += size;
    }

    private void EvictTo(int targetSize)
    {
        while (Size > targetSize && _count > 0)
        {
            ref (string Name, string Value) oldest = ref _entries[_oldest];
            Size -= EntrySize(oldest.Name, oldest.Value);
            oldest = default;
            _oldest = (_oldest + 1) % _entries.Length;
            _count--;
        }
    }
}
