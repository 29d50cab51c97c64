using H2Middleware.Hpack;
using static H2Middleware.Tests.Hpack.HpackTestData;

namespace H2Middleware.Tests.Hpack;

/// <summary>Every malformed block fails with its own <see cref="HpackDecodingError"/>, never another exception type.</summary>
public class HpackMalformedInputTests
{
    public static TheoryData<string, string, string> MalformedBlocks => new()
    {
        { "integer cut off after its prefix", "ff", nameof(HpackDecodingError.TruncatedInteger) },
        { "integer cut off mid continuation", "ff80", nameof(HpackDecodingError.TruncatedInteger) },
        { "string length cut off", "407f", nameof(HpackDecodingError.TruncatedInteger) },
        { "literal with no value length", "4001 61", nameof(HpackDecodingError.TruncatedInteger) },
        { "integer above 2^31-1", "ffffffffff0f", nameof(HpackDecodingError.IntegerOverflow) },
        { "integer with too many continuation octets", "ff808080808000", nameof(HpackDecodingError.IntegerOverflow) },
        { "name shorter than its length", "400a6375", nameof(HpackDecodingError.TruncatedString) },
        { "value shorter than its length", "0001 6103 6162", nameof(HpackDecodingError.TruncatedString) },
        { "index 0", "80", nameof(HpackDecodingError.InvalidIndex) },
        { "index past the static table on an empty dynamic table", "be", nameof(HpackDecodingError.InvalidIndex) },
        { "literal name index past the tables", "7f0001", nameof(HpackDecodingError.InvalidIndex) },
        { "size update above the limit", "3fe21f", nameof(HpackDecodingError.TableSizeUpdateTooLarge) },
        { "size update after a field", "823f01", nameof(HpackDecodingError.TableSizeUpdateNotAtBlockStart) },
        { "Huffman padding longer than 7 bits", "4081ff0161", nameof(HpackDecodingError.InvalidHuffmanCode) },
        { "Huffman padding not all ones", "408100", nameof(HpackDecodingError.InvalidHuffmanCode) },
        { "Huffman string containing EOS", "4084ffffffff0161", nameof(HpackDecodingError.InvalidHuffmanCode) },
    };

    [Theory]
    [MemberData(nameof(MalformedBlocks))]
    public void MalformedBlockFailsWithItsError(string why, string hex, string expectedError)
    {
        var expected = Enum.Parse<HpackDecodingError>(expectedError);
        var decoder = new HpackDecoder();
        var error = Assert.Throws<HpackDecodingException>(() => decoder.Decode(Hex(hex), endHeaders: true, new RecordingSink()));
        Assert.True(expected == error.Error, $"{why}: {error.Error}");
    }

    [Fact]
    public void StringLongerThanTheLimitFails()
    {
        var decoder = new HpackDecoder(maxStringLength: 10);
        byte[] block = [0x40, 0x01, (byte)'a', 0x0b, .. "12345678901"u8];
        var error = Assert.Throws<HpackDecodingException>(() => decoder.Decode(block, endHeaders: true, new RecordingSink()));
        Assert.Equal(HpackDecodingError.StringTooLong, error.Error);
    }

    [Fact]
    public void HuffmanStringDecodingPastTheLimitFails()
    {
        var decoder = new HpackDecoder(maxStringLength: 4);
        // "www.example.com" in Huffman (RFC 7541 C.4.1) decodes to 15 octets.
        byte[] block = [0x40, 0x01, (byte)'a', .. Hex("8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff")];
        var error = Assert.Throws<HpackDecodingException>(() => decoder.Decode(block, endHeaders: true, new RecordingSink()));
        Assert.Equal(HpackDecodingError.StringTooLong, error.Error);
    }

    [Fact]
    public void OversizedListIsReportedAfterTheBlockAndTheTableStaysInStep()
    {
        var decoder = new HpackDecoder(maxHeaderListSize: 100);
        var sink = new RecordingSink();
        byte[] big = [0x40, 0x01, (byte)'a', 0x7f, 0x01, .. new byte[128].Select(_ => (byte)'x')];
        byte[] second = [0x40, 0x01, (byte)'b', 0x01, (byte)'y'];

        var error = Assert.Throws<HpackDecodingException>(() => decoder.Decode([.. big, .. second], endHeaders: true, sink));

        Assert.Equal(HpackDecodingError.HeaderListTooLarge, error.Error);
        Assert.Equal(2, decoder.DynamicTableCount);
        Assert.Equal([Field("b", "y")], Decode(decoder, Hex("be")));
    }

    [Fact]
    public void BlockEndingInsideARepresentationIsTruncated()
    {
        var decoder = new HpackDecoder();
        decoder.Decode(Hex("4003 6162"), endHeaders: false, new RecordingSink());
        var error = Assert.Throws<HpackDecodingException>(() => decoder.Decode([], endHeaders: true, new RecordingSink()));
        Assert.Equal(HpackDecodingError.TruncatedString, error.Error);
    }
}
