using System.Collections;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Primitives;
using Microsoft.Net.Http.Headers;

namespace H2Middleware.Streams;

/// <summary>
/// A stream's request or response headers, or trailers, as ASP.NET Core sees them: fields in the order they were first
/// set, names compared without regard to case. It replaces <see cref="HeaderDictionary"/> for start-up's sake: that
/// one's <c>Dictionary&lt;string, StringValues&gt;</c> is a framework generic instantiation over a framework struct,
/// which no ReadyToRun image holds, so a process served its first requests through it in tier-0 JIT code; all of this is
/// in the engine's own image. A few fields are found sooner by comparing names than by hashing them; from
/// <see cref="IndexedFrom"/> fields on, an index by name keeps a lookup constant-time (a request may carry hundreds).
/// </summary>
internal sealed class HeaderFieldDictionary : IHeaderDictionary
{
    public const int IndexedFrom = 16;

    /// <summary>A pooled stream keeps the array of its largest field set up to this size, and lets a larger one go.</summary>
    private const int MaxKeptCapacity = 4 * IndexedFrom;

    private HeaderField[] _fields = [];
    private int _count;
    private Dictionary<string, int>? _positions;
    private int _version;

    /// <summary>Set once the response has started (or for a collection that never changes): changes then throw.</summary>
    public bool IsReadOnly { get; set; }

    public int Count => _count;

    /// <summary>Every field's name.</summary>
    public ICollection<string> Keys
    {
        get
        {
            var names = new string[_count];
            for (int i = 0; i < _count; i++)
            {
                names[i] = _fields[i].Name;
            }

            return names;
        }
    }

    /// <summary>Every field's values.</summary>
    public ICollection<StringValues> Values
    {
        get
        {
            var values = new StringValues[_count];
            for (int i = 0; i < _count; i++)
            {
                values[i] = _fields[i].Value;
            }

            return values;
        }
    }

    /// <summary>A field's values, or none; setting no values removes the field.</summary>
    public StringValues this[string key]
    {
        get => Find(key) is var position and >= 0 ? _fields[position].Value : StringValues.Empty;
        set
        {
            ThrowIfReadOnly();
            if (value.Count == 0)
            {
                RemoveAt(Find(key));
                return;
            }

            int position = Find(key);
            if (position >= 0)
            {
                _fields[position] = new HeaderField(_fields[position].Name, value);
                _version++;
            }
            else
            {
                Insert(key, value);
            }
        }
    }

    /// <summary>The Content-Length field as a number: null when absent or not a single non-negative integer.</summary>
    public long? ContentLength
    {
        get
        {
            StringValues values = this[HeaderNames.ContentLength];
            return values.Count == 1 && values[0] is { Length: > 0 } text
                && HeaderUtilities.TryParseNonNegativeInt64(new StringSegment(text).Trim(), out long length)
                ? length
                : null;
        }
        set
        {
            ThrowIfReadOnly();
            if (value is { } length)
            {
                this[HeaderNames.ContentLength] = HeaderUtilities.FormatNonNegativeInt64(length);
            }
            else
            {
                RemoveAt(Find(HeaderNames.ContentLength));
            }
        }
    }

    /// <summary>The field at <paramref name="position"/>, from 0 to <see cref="Count"/> - 1, in the order of first setting.</summary>
    public ref readonly HeaderField At(int position)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual((uint)position, (uint)_count, nameof(position));
        return ref _fields[position];
    }

    /// <summary>Adds <paramref name="value"/> to the field's values, or the field with it (a request's repeated field).</summary>
    public void Append(string name, string value)
    {
        ThrowIfReadOnly();
        int position = Find(name);
        if (position >= 0)
        {
            _fields[position] = new HeaderField(_fields[position].Name, StringValues.Concat(_fields[position].Value, value));
            _version++;
        }
        else
        {
            Insert(name, value);
        }
    }

    public bool ContainsKey(string key) => Find(key) >= 0;

    public bool TryGetValue(string key, out StringValues value)
    {
        int position = Find(key);
        value = position >= 0 ? _fields[position].Value : StringValues.Empty;
        return position >= 0;
    }

    /// <summary>Adds a field; throws if one of that name is present.</summary>
    public void Add(string key, StringValues value)
    {
        ThrowIfReadOnly();
        if (Find(key) >= 0)
        {
            throw new ArgumentException($"A field named '{key}' is already present.", nameof(key));
        }

        Insert(key, value);
    }

    public void Add(KeyValuePair<string, StringValues> item) => Add(item.Key, item.Value);

    public bool Remove(string key)
    {
        ThrowIfReadOnly();
        return RemoveAt(Find(key));
    }

    /// <summary>Removes the field if it has exactly these values.</summary>
    public bool Remove(KeyValuePair<string, StringValues> item)
    {
        ThrowIfReadOnly();
        int position = Find(item.Key);
        return position >= 0 && StringValues.Equals(_fields[position].Value, item.Value) && RemoveAt(position);
    }

    public bool Contains(KeyValuePair<string, StringValues> item) =>
        Find(item.Key) is var position and >= 0 && StringValues.Equals(_fields[position].Value, item.Value);

    public void Clear()
    {
        ThrowIfReadOnly();
        if (_fields.Length > MaxKeptCapacity)
        {
            _fields = [];
        }
        else
        {
            Array.Clear(_fields, 0, _count);
        }

        _count = 0;
        _positions = null;
        _version++;
    }

    public void CopyTo(KeyValuePair<string, StringValues>[] array, int arrayIndex)
    {
        ArgumentNullException.ThrowIfNull(array);
        ArgumentOutOfRangeException.ThrowIfNegative(arrayIndex);
        if (array.Length - arrayIndex < _count)
        {
            throw new ArgumentException("The array is too small for the fields.", nameof(array));
        }

        for (int i = 0; i < _count; i++)
        {
            array[arrayIndex + i] = new KeyValuePair<string, StringValues>(_fields[i].Name, _fields[i].Value);
        }
    }

    public Enumerator GetEnumerator() => new(this);

    IEnumerator<KeyValuePair<string, StringValues>> IEnumerable<KeyValuePair<string, StringValues>>.GetEnumerator() => GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    private int Find(string key)
    {
        ArgumentNullException.ThrowIfNull(key);
        if (_positions is not null)
        {
            return _positions.TryGetValue(key, out int position) ? position : -1;
        }

        HeaderField[] fields = _fields;
        for (int i = 0; i < _count; i++)
        {
            string name = fields[i].Name;
            if (ReferenceEquals(name, key) || string.Equals(name, key, StringComparison.OrdinalIgnoreCase))
            {
                return i;
            }
        }

        return -1;
    }

    /// <summary>Adds a field whose name is not present.</summary>
    private void Insert(string name, StringValues value)
    {
        if (_count == _fields.Length)
        {
            // Array.Copy, not Array.Resize: the generic method over this struct would be outside the ReadyToRun image.
            var grown = new HeaderField[Math.Max(4, 2 * _count)];
            Array.Copy(_fields, grown, _count);
            _fields = grown;
        }

        _fields[_count] = new HeaderField(name, value);
        _count++;
        _version++;
        if (_positions is not null)
        {
            _positions.Add(name, _count - 1);
        }
        else if (_count == IndexedFrom)
        {
            Index();
        }
    }

    private bool RemoveAt(int position)
    {
        if (position < 0)
        {
            return false;
        }

        _count--;
        Array.Copy(_fields, position + 1, _fields, position, _count - position);
        _fields[_count] = default;
        _version++;
        if (_positions is not null)
        {
            Index();
        }

        return true;
    }

    private void Index()
    {
        _positions = new Dictionary<string, int>(_count, StringComparer.OrdinalIgnoreCase);
        for (int i = 0; i < _count; i++)
        {
            _positions.Add(_fields[i].Name, i);
        }
    }

    private void ThrowIfReadOnly()
    {
        if (IsReadOnly)
        {
            throw new InvalidOperationException("The headers are read-only: the response has already started.");
        }
    }

    /// <summary>The fields in order, as name and values; the collection must not change meanwhile.</summary>
    public struct Enumerator(HeaderFieldDictionary fields) : IEnumerator<KeyValuePair<string, StringValues>>
    {
        private readonly int _version = fields._version;
        private int _position = -1;

        public readonly KeyValuePair<string, StringValues> Current =>
            new(fields._fields[_position].Name, fields._fields[_position].Value);

        readonly object IEnumerator.Current => Current;

        public bool MoveNext()
        {
            if (_version != fields._version)
            {
                throw new InvalidOperationException("The fields changed while they were being enumerated.");
            }

            return ++_position < fields._count;
        }

        public void Reset() => _position = -1;

        public readonly void Dispose()
        {
        }
    }
}
