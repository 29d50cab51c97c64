using System.Buffers;
using H2Middleware.Hpack;
using H2Middleware.Streams;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Primitives;
using Microsoft.Net.Http.Headers;

namespace H2Middleware.Output;

/// <summary>
/// Turns a response's header or trailer fields (or a pushed request's, for PUSH_PROMISE) into an HPACK block, after
/// checking that the client can take them: every field is validated before the encoder touches its dynamic table,
/// because once it has, the block must be sent or the client's decoder falls out of step.
/// </summary>
internal sealed class ResponseFieldEncoder(TimeProvider time)
{
    /// <summary>":status" with three digits (42 octets) and the "date" we add (65).</summary>
    private const int StatusAndDateListSize = 42 + 65;

    private readonly HpackEncoder _encoder = new();
    // Empty until the first block, then 256 bytes (a typical response's status, date and few fields fit several times),
    // doubled by the rare larger block and kept at that size until the connection is idle (ReleaseBuffer).
    private ArrayBufferWriter<byte> _block = new();

    /// <summary>The client's advisory SETTINGS_MAX_HEADER_LIST_SIZE: a larger block would only be refused.</summary>
    public long PeerMaxHeaderListSize { get; set; } = long.MaxValue;

    /// <summary>The last block encoded.</summary>
    public ReadOnlySpan<byte> Block => _block.WrittenSpan;

    /// <summary>Lets the block buffer go: the connection is idle, and its next block makes one again.</summary>
    public void ReleaseBuffer()
    {
        if (_block.Capacity > 0)
        {
            _block = new ArrayBufferWriter<byte>();
        }
    }

    /// <summary>The client's SETTINGS_HEADER_TABLE_SIZE (RFC 7541 §4.2): the encoder's table shrinks to fit.</summary>
    public void SetPeerHeaderTableSize(uint size) => _encoder.SetPeerHeaderTableSize(size);

    /// <summary>Encodes a header block (with <c>:status</c> and a <c>date</c>) or, with a status of 0, a trailer block into <see cref="Block"/>; returns why it cannot be sent, or null.</summary>
    public string? Encode(HeaderDictionary fields, int statusCode)
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
                _encoder.EncodeHeader("date", HttpDate.Current(time), _block);
            }
        }

        foreach (KeyValuePair<string, StringValues> field in fields)
        {
            if (HeaderFieldRules.IsConnectionSpecific(field.Key))
            {
                continue;
            }

            foreach (string? value in field.Value)
            {
                if (value is not null)
                {
                    _encoder.EncodeHeader(field.Key, TrimWhitespace(value), _block);
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
        foreach (KeyValuePair<string, StringValues> field in request.Fields)
        {
            foreach (string? value in field.Value)
            {
                listSize += field.Key.Length + (value?.Length ?? 0) + 32;
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
        foreach (KeyValuePair<string, StringValues> field in request.Fields)
        {
            foreach (string? value in field.Value)
            {
                if (value is not null)
                {
                    _encoder.EncodeHeader(field.Key, value, _block);
                }
            }
        }

        return null;
    }

    private string? Validate(HeaderDictionary fields, int statusCode, out bool hasDate)
    {
        hasDate = false;
        // RFC 9113 §6.5.2: the size the client's SETTINGS_MAX_HEADER_LIST_SIZE counts, each field 32 octets over its name and value.
        long listSize = statusCode != 0 ? StatusAndDateListSize : 0;
        foreach (KeyValuePair<string, StringValues> field in fields)
        {
            if (!HeaderFieldRules.IsValidResponseName(field.Key))
            {
                return $"invalid response field name '{field.Key}'";
            }

            hasDate |= field.Key.Length == 4 && field.Key.Equals(HeaderNames.Date, StringComparison.OrdinalIgnoreCase);
            foreach (string? value in field.Value)
            {
                if (value is not null && !HeaderFieldRules.IsValidValue(value.AsSpan()))
                {
                    return $"invalid value for response field '{field.Key}'";
                }

                listSize += field.Key.Length + (value?.Length ?? 0) + 32;
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
