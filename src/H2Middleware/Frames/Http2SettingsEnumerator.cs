using System.Buffers;
using System.Buffers.Binary;

namespace H2Middleware.Frames;

/// <summary>Enumerates the parameters of a SETTINGS payload in order, without allocating (usable with foreach).</summary>
internal struct Http2SettingsEnumerator
{
    private const int EntrySize = 6;

    private ReadOnlySequence<byte> _remaining;

    public Http2SettingsEnumerator(ReadOnlySequence<byte> payload)
    {
        _remaining = payload;
        Current = default;
    }

    public Http2Setting Current { get; private set; }

    public readonly Http2SettingsEnumerator GetEnumerator() => this;

    public bool MoveNext()
    {
        if (_remaining.Length < EntrySize)
        {
            return false;
        }

        Span<byte> entry = stackalloc byte[EntrySize];
        _remaining.Slice(0, EntrySize).CopyTo(entry);
        _remaining = _remaining.Slice(EntrySize);
        Current = new Http2Setting((Http2SettingsParameter)BinaryPrimitives.ReadUInt16BigEndian(entry), BinaryPrimitives.ReadUInt32BigEndian(entry[2..]));
        return true;
    }
}
