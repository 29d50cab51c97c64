namespace H2Middleware.Scheduling;

/// <summary>
/// An extensible priority (RFC 9218 §4): urgency 0 (highest) to 7 (lowest), and whether the response
/// is useful incrementally, so it may share bandwidth with others of the same urgency.
/// </summary>
public readonly record struct Http2Priority
{
    public const int MaxUrgency = 7;

    /// <summary>A longer priority signal (header or PRIORITY_UPDATE) is ignored: no valid one needs more.</summary>
    public const int MaxFieldValueLength = 256;

    /// <summary>RFC 9218 §4.1 and §4.2 defaults: urgency 3, not incremental.</summary>
    public static Http2Priority Default => new(3, incremental: false);

    public Http2Priority(int urgency, bool incremental)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(urgency);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(urgency, MaxUrgency);
        Urgency = urgency;
        Incremental = incremental;
    }

    public int Urgency { get; }

    public bool Incremental { get; }

    /// <summary>
    /// Applies the parameters of a Priority field value (RFC 9218 §5, a Structured Fields dictionary such as
    /// <c>u=1, i</c>) over <paramref name="current"/>. Unknown keys and out-of-range or mistyped values are ignored,
    /// as §4 requires.
    /// </summary>
    public static Http2Priority Parse(ReadOnlySpan<byte> fieldValue, Http2Priority current)
    {
        int urgency = current.Urgency;
        bool incremental = current.Incremental;
        while (!fieldValue.IsEmpty)
        {
            int comma = fieldValue.IndexOf((byte)',');
            ReadOnlySpan<byte> member = comma < 0 ? fieldValue : fieldValue[..comma];
            fieldValue = comma < 0 ? default : fieldValue[(comma + 1)..];

            member = member.Trim(" \t"u8);
            int semicolon = member.IndexOf((byte)';');
            if (semicolon >= 0)
            {
                member = member[..semicolon];
            }

            int equals = member.IndexOf((byte)'=');
            ReadOnlySpan<byte> key = equals < 0 ? member : member[..equals];
            ReadOnlySpan<byte> value = equals < 0 ? default : member[(equals + 1)..];

            if (key.SequenceEqual("u"u8))
            {
                if (value.Length == 1 && value[0] >= (byte)'0' && value[0] <= (byte)('0' + MaxUrgency))
                {
                    urgency = value[0] - '0';
                }
            }
            else if (key.SequenceEqual("i"u8))
            {
                if (equals < 0 || value.SequenceEqual("?1"u8))
                {
                    incremental = true;
                }
                else if (value.SequenceEqual("?0"u8))
                {
                    incremental = false;
                }
            }
        }

        return new Http2Priority(urgency, incremental);
    }
}
