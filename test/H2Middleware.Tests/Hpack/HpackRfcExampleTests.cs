using System.Buffers;
using H2Middleware.Hpack;
using static H2Middleware.Tests.Hpack.HpackTestData;

namespace H2Middleware.Tests.Hpack;

/// <summary>RFC 7541 Appendix C, byte for byte.</summary>
public class HpackRfcExampleTests
{
    [Theory]
    [InlineData(10, 5, "0a")]
    [InlineData(1337, 5, "1f9a0a")]
    [InlineData(42, 8, "2a")]
    public void C1_Integers(int value, int prefixBits, string hex)
    {
        Span<byte> encoded = stackalloc byte[8];
        int length = HpackInteger.Encode(value, prefixBits, 0, encoded);
        Assert.Equal(Hex(hex), encoded[..length].ToArray());

        Assert.True(HpackInteger.TryDecode(Hex(hex), prefixBits, out int decoded, out int consumed));
        Assert.Equal(value, decoded);
        Assert.Equal(length, consumed);
    }

    [Fact]
    public void C2_1_LiteralWithIndexing()
    {
        var decoder = new HpackDecoder();
        Assert.Equal([Field("custom-key", "custom-header")], Decode(decoder, Hex("400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572")));
        Assert.Equal(55, decoder.DynamicTableSize);
        Assert.Equal(1, decoder.DynamicTableCount);
    }

    [Fact]
    public void C2_2_LiteralWithoutIndexing()
    {
        var decoder = new HpackDecoder();
        Assert.Equal([Field(":path", "/sample/path")], Decode(decoder, Hex("040c 2f73 616d 706c 652f 7061 7468")));
        Assert.Equal(0, decoder.DynamicTableCount);
    }

    [Fact]
    public void C2_3_LiteralNeverIndexed()
    {
        var decoder = new HpackDecoder();
        Assert.Equal([Field("password", "secret")], Decode(decoder, Hex("1008 7061 7373 776f 7264 0673 6563 7265 74")));
        Assert.Equal(0, decoder.DynamicTableCount);
    }

    [Fact]
    public void C2_4_Indexed()
    {
        var decoder = new HpackDecoder();
        Assert.Equal([Field(":method", "GET")], Decode(decoder, Hex("82")));
        Assert.Equal(0, decoder.DynamicTableCount);
    }

    private static readonly string[] C3 =
        ["8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d", "8286 84be 5808 6e6f 2d63 6163 6865", "8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65"];

    private static readonly string[] C4 =
        ["8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff", "8286 84be 5886 a8eb 1064 9cbf", "8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf"];

    public static TheoryData<string, string[]> RequestExamples => new() { { "C.3", C3 }, { "C.4", C4 } };

    private static readonly KeyValuePair<string, string>[][] ExpectedRequests =
    [
        [Field(":method", "GET"), Field(":scheme", "http"), Field(":path", "/"), Field(":authority", "www.example.com")],
        [Field(":method", "GET"), Field(":scheme", "http"), Field(":path", "/"), Field(":authority", "www.example.com"), Field("cache-control", "no-cache")],
        [Field(":method", "GET"), Field(":scheme", "https"), Field(":path", "/index.html"), Field(":authority", "www.example.com"), Field("custom-key", "custom-value")],
    ];

    private static readonly int[] RequestTableSizes = [57, 110, 164];
    private static readonly int[] RequestTableCounts = [1, 2, 3];

    [Theory]
    [MemberData(nameof(RequestExamples))]
    public void C3_C4_RequestsShareOneContext(string section, string[] blocks)
    {
        var decoder = new HpackDecoder();
        for (int i = 0; i < blocks.Length; i++)
        {
            Assert.Equal(ExpectedRequests[i], Decode(decoder, Hex(blocks[i])));
            Assert.True(RequestTableSizes[i] == decoder.DynamicTableSize, $"{section}.{i + 1} table size");
            Assert.Equal(RequestTableCounts[i], decoder.DynamicTableCount);
        }
    }

    /// <summary>An idle connection lets the decoder's scratch buffers go: between blocks, or between fragments of one.</summary>
    [Fact]
    public void C4_DecodesWithTheScratchBuffersReleasedBetweenBlocksAndFragments()
    {
        var decoder = new HpackDecoder();
        for (int i = 0; i < C4.Length; i++)
        {
            byte[] block = Hex(C4[i]);
            var sink = new RecordingSink();
            for (int at = 0; at < block.Length; at += 3)
            {
                decoder.ReleaseBuffers();
                decoder.Decode(block.AsSpan(at, Math.Min(3, block.Length - at)), endHeaders: at + 3 >= block.Length, sink);
            }

            Assert.Equal(ExpectedRequests[i], sink.Fields);
            Assert.Equal(RequestTableSizes[i], decoder.DynamicTableSize);
        }
    }

    /// <summary>
    /// Our encoder indexes :authority, cache-control and custom-key as the RFC example does and uses Huffman when
    /// shorter, so it reproduces C.4 exactly (C.3 is the same without Huffman, which we never turn off).
    /// </summary>
    [Fact]
    public void C4_EncoderProducesTheRfcBytes()
    {
        var encoder = new HpackEncoder();
        string[] expected = C4;
        for (int i = 0; i < expected.Length; i++)
        {
            var output = new ArrayBufferWriter<byte>();
            encoder.BeginHeaderBlock(output);
            foreach (var (name, value) in ExpectedRequests[i])
            {
                encoder.EncodeHeader(name, value, output);
            }

            Assert.Equal(Hex(expected[i]), output.WrittenSpan.ToArray());
            Assert.Equal(RequestTableSizes[i], encoder.DynamicTableSize);
        }
    }

    public static TheoryData<string, string[]> ResponseExamples => new()
    {
        {
            "C.5",
            [
                "4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3120 474d 546e 1768 7474 7073 3a2f 2f77 7777 2e65 7861 6d70 6c65 2e63 6f6d",
                "4803 3330 37c1 c0bf",
                "88c1 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3220 474d 54c0 5a04 677a 6970 7738 666f 6f3d 4153 444a 4b48 514b 425a 584f 5157 454f 5049 5541 5851 5745 4f49 553b 206d 6178 2d61 6765 3d33 3630 303b 2076 6572 7369 6f6e 3d31",
            ]
        },
        {
            "C.6",
            [
                "4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6 2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3",
                "4883 640e ffc1 c0bf",
                "88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab 77ad 94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f 9587 3160 65c0 03ed 4ee5 b106 3d50 07",
            ]
        },
    };

    private static readonly KeyValuePair<string, string>[][] ExpectedResponses =
    [
        [Field(":status", "302"), Field("cache-control", "private"), Field("date", "Mon, 21 Oct 2013 20:13:21 GMT"), Field("location", "https://www.example.com")],
        [Field(":status", "307"), Field("cache-control", "private"), Field("date", "Mon, 21 Oct 2013 20:13:21 GMT"), Field("location", "https://www.example.com")],
        [
            Field(":status", "200"), Field("cache-control", "private"), Field("date", "Mon, 21 Oct 2013 20:13:22 GMT"), Field("location", "https://www.example.com"),
            Field("content-encoding", "gzip"), Field("set-cookie", "foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1"),
        ],
    ];

    private static readonly int[] ResponseTableSizes = [222, 222, 215];
    private static readonly int[] ResponseTableCounts = [4, 4, 3];

    [Theory]
    [MemberData(nameof(ResponseExamples))]
    public void C5_C6_ResponsesEvictFromA256ByteTable(string section, string[] blocks)
    {
        var decoder = new HpackDecoder(maxDynamicTableSize: 256);
        var sizeUpdateTo256 = new byte[] { 0x3f, 0xe1, 0x01 };
        decoder.Decode(sizeUpdateTo256, endHeaders: false, new RecordingSink());
        for (int i = 0; i < blocks.Length; i++)
        {
            Assert.Equal(ExpectedResponses[i], Decode(decoder, Hex(blocks[i])));
            Assert.True(ResponseTableSizes[i] == decoder.DynamicTableSize, $"{section}.{i + 1} table size");
            Assert.Equal(ResponseTableCounts[i], decoder.DynamicTableCount);
        }
    }
}
