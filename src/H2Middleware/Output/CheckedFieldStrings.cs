namespace H2Middleware.Output;

/// <summary>
/// Field names and values of this connection's responses already found valid, remembered by reference: applications
/// send the same string instances (header name constants, literal content types) on response after response, and a
/// string cannot change, so one found again needs no second scan. A few slots chosen by length and last character;
/// a collision only means a string is checked again. A struct, so that a connection pays only for the slots, and
/// only once it has sent a response.
/// </summary>
internal struct CheckedFieldStrings
{
    private const int SlotCount = 16;

    private string?[]? _slots;

    public readonly bool Contains(string value) =>
        value.Length != 0 && _slots is { } slots && ReferenceEquals(slots[SlotOf(value)], value);

    public void Add(string value)
    {
        if (value.Length != 0)
        {
            (_slots ??= new string?[SlotCount])[SlotOf(value)] = value;
        }
    }

    /// <summary>Forgets every string and lets the slots go (the connection is idle).</summary>
    public void Clear() => _slots = null;

    private static int SlotOf(string value) => ((value.Length * 7) + value[^1]) & (SlotCount - 1);
}
