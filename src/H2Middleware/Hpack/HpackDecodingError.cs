namespace H2Middleware.Hpack;

/// <summary>Why a header block could not be decoded (RFC 7541).</summary>
internal enum HpackDecodingError
{
    /// <summary>The block's last fragment ended inside an integer (§5.1): an index, a size or a string length.</summary>
    TruncatedInteger,

    /// <summary>An integer does not fit in 31 bits, or uses too many continuation octets (§5.1, §7.1.3 of RFC 7541 on integer overflow).</summary>
    IntegerOverflow,

    /// <summary>The block's last fragment ended inside a string literal (§5.2).</summary>
    TruncatedString,

    /// <summary>A string literal is longer than the decoder accepts.</summary>
    StringTooLong,

    /// <summary>A Huffman string contains EOS, or its padding is longer than 7 bits or not all ones (§5.2).</summary>
    InvalidHuffmanCode,

    /// <summary>Index 0, or an index past the static and dynamic tables (§2.3.3, §6.1).</summary>
    InvalidIndex,

    /// <summary>A dynamic table size update above the advertised SETTINGS_HEADER_TABLE_SIZE (§6.3).</summary>
    TableSizeUpdateTooLarge,

    /// <summary>A dynamic table size update after a field representation (§4.2).</summary>
    TableSizeUpdateNotAtBlockStart,

    /// <summary>
    /// The limit fell below the table's size, and the next block did not start with the size update that must follow
    /// (§4.2; RFC 9113 §4.3.1).
    /// </summary>
    TableSizeUpdateMissing,

    /// <summary>The decoded list exceeds the limit (RFC 9113 §6.5.2); the block was fully decoded, the table is in step.</summary>
    HeaderListTooLarge,
}
