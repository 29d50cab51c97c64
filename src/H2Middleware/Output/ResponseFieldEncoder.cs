using System.Buffers;
using H2Middleware.Hpack;
using H2Middleware.Streams;
using Microsoft.Net.Http.Headers;

namespace H2Middleware.Output;

/// <summary>
/// Turns a response's header or trailer fields (or a pushed request's, for PUSH_PROMISE) into an HPACK block, after
/// checking that the client can take them: every field is validated before the encoder touches its dynamic table,
/// because once it has, the block must be sent or the client's decoder falls out of step.
/// </summary>
internal sealed class ResponseFieldEncoder(HttpDate date)
{
    /// <summary>":status" with three digits (42 octets) and the "date" we add (65).</summary>
    private const int StatusAndDateListSize = 42 + 65;

    private readonly HpackEncoder _encoder = new();
    // Empty until the first block, then 256 bytes (a typical response's status, date and few fields fit several times),
    // doubled by the rare larger block and kept at that size until the connection is idle (ReleaseBuffer).
    private ArrayBufferWriter<byte> _block = new();
    private CheckedFieldStrings _validNames;
    private CheckedFieldStrings _validValues;

    /// <summary>Longer values (cookies, tokens) are checked every time rather than kept alive with the connection.</summary>
    private const int MaxRememberedValueLength = 64;

    /// <summary>The client's advisory SETTINGS_MAX_HEADER_LIST_SIZE: a larger block would only be refused.</summary>
    public long PeerMaxHeaderListSize { get; set; } = long.MaxValue;

    /// <summary>The last block encoded.</summary>
    public ReadOnlySpan<byte> Block => _block.WrittenSpan;

    /// <summary>Lets the block buffer and the checked strings go: the connection is idle, and its next block makes them again.</summary>
    public void ReleaseBuffer()
    {
        if (_block.Capacity > 0)
        {
            _block = new ArrayBufferWriter<byte>();
        }

        _validNames.Clear();
        _validValues.Clear();
    }

    /// <summary>The client's SETTINGS_HEADER_TABLE_SIZE (RFC 7541 §4.2): the encoder's table shrinks to fit.</summary>
    public void SetPeerHeaderTableSize(uint size) => _encoder.SetPeerHeaderTableSize(size);

    /// <summary>Encodes a header block (with <c>:status</c> and a <c>date</c>) or, with a status of 0, a trailer block into <see cref="Block"/>; returns why it cannot be sent, or null.</summary>
    public string? Encode(HeaderFieldDictionary fields, int statusCode)
    {
        if (Validate(fields, statusCode, out bool hasDate) is { } invalid)
        {
            return invalid;
        }

        _block.ResetWrittenCount();
        _encoder.BeginHeaderBlock(_block);
        if (statusCode != 0)
        {
            _encoder.EncodeStatus(statusCode, _block);
            if (!hasDate)
            {
                _encoder.EncodeHeader("date", date.Current, _block);
            }
        }

        for (int i = 0; i < fields.Count; i++)
        {
            ref readonly HeaderField field = ref fields.At(i);
            if (HeaderFieldRules.IsConnectionSpecific(field.Name))
            {
                continue;
            }

            foreach (string? value in field.Value)
            {
                if (value is not null)
                {
                    _encoder.EncodeHeader(field.Name, TrimWhitespace(value), _block);
                }
            }
        }

        return null;
    }

    /// <summary>
    /// Encodes the promised request of a PUSH_PROMISE (RFC 9113 §8.4.1) into <see cref="Block"/>: a header block like
    /// the others, in the same HPACK context, since the client decodes every block in the order we send them. The
    /// fields were checked by the handler side; returns why the block cannot be sent, or null.
    /// </summary>
    public string? EncodePushPromise(PushRequest request)
    {
        // RFC 9113 §6.5.2: 32 octets over each field's name and value, here for :method, :scheme, :authority and :path.
        long listSize = 4 * 32 + ":method:scheme:authority:path".Length + request.Method.Length + request.Scheme.Length + request.Authority.Length + request.Path.Length;
        for (int i = 0; i < request.Fields.Count; i++)
        {
            ref readonly HeaderField field = ref request.Fields.At(i);
            foreach (string? value in field.Value)
            {
                listSize += field.Name.Length + (value?.Length ?? 0) + 32;
            }
        }

        if (listSize > PeerMaxHeaderListSize)
        {
            return $"the promised request's fields ({listSize} octets) exceed the client's SETTINGS_MAX_HEADER_LIST_SIZE ({PeerMaxHeaderListSize})";
        }

        _block.ResetWrittenCount();
        _encoder.BeginHeaderBlock(_block);
        _encoder.EncodeHeader(":method", request.Method, _block);
        _encoder.EncodeHeader(":scheme", request.Scheme, _block);
        _encoder.EncodeHeader(":authority", request.Authority, _block);
        _encoder.EncodeHeader(":path", request.Path, _block);
        for (int i = 0; i < request.Fields.Count; i++)
        {
            ref readonly HeaderField field = ref request.Fields.At(i);
            foreach (string? value in field.Value)
            {
                if (value is not null)
                {
                    _encoder.EncodeHeader(field.Name, value, _block);
                }
            }
        }

        return null;
    }

    private string? Validate(HeaderFieldDictionary fields, int statusCode, out bool hasDate)
    {
        hasDate = false;
        // RFC 9113 §6.5.2: the size the client's SETTINGS_MAX_HEADER_LIST_SIZE counts, each field 32 octets over its name and value.
        long listSize = statusCode != 0 ? StatusAndDateListSize : 0;
        for (int i = 0; i < fields.Count; i++)
        {
            ref readonly HeaderField field = ref fields.At(i);
            if (!_validNames.Contains(field.Name))
            {
                if (!HeaderFieldRules.IsValidResponseName(field.Name))
                {
                    return $"invalid response field name '{field.Name}'";
                }

                _validNames.Add(field.Name);
            }

            hasDate |= field.Name.Length == 4 && field.Name.Equals(HeaderNames.Date, StringComparison.OrdinalIgnoreCase);
            foreach (string? value in field.Value)
            {
                if (value is not null && !_validValues.Contains(value))
                {
                    if (!HeaderFieldRules.IsValidValue(value.AsSpan()))
                    {
                        return $"invalid value for response field '{field.Name}'";
                    }

                    if (value.Length <= MaxRememberedValueLength)
                    {
                        _validValues.Add(value);
                    }
                }

                listSize += field.Name.Length + (value?.Length ?? 0) + 32;
            }
        }

        return listSize > PeerMaxHeaderListSize
            ? $"the response fields ({listSize} octets) exceed the client's SETTINGS_MAX_HEADER_LIST_SIZE ({PeerMaxHeaderListSize})"
            : null;
    }

    /// <summary>RFC 9113 §8.2.1: a field value must not start or end with whitespace; most values have none and stay as they are.</summary>
    private static string TrimWhitespace(string value) =>
        value.Length > 0 && (value[0] is ' ' or '\t' || value[^1] is ' ' or '\t') ? value.Trim(' ', '\t') : value;
}
