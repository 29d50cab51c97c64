namespace H2Middleware.Hpack;

/// <summary>
/// A header block could not be decoded. Every <see cref="HpackDecodingError"/> but
/// <see cref="HpackDecodingError.HeaderListTooLarge"/> is a connection COMPRESSION_ERROR (RFC 9113 §4.3).
/// </summary>
internal sealed class HpackDecodingException(HpackDecodingError error, string message) : Exception(message)
{
    public HpackDecodingError Error { get; } = error;
}
