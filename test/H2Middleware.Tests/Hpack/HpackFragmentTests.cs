using System.Buffers;
using H2Middleware.Hpack;
using static H2Middleware.Tests.Hpack.HpackTestData;

namespace H2Middleware.Tests.Hpack;

/// <summary>A header block split across HEADERS and CONTINUATION frames may be cut at any byte.</summary>
public class HpackFragmentTests
{
    private static readonly byte[][] C4Blocks =
    [
        Hex("8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff"),
        Hex("8286 84be 5886 a8eb 1064 9cbf"),
        Hex("8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf"),
    ];

    private static List<List<KeyValuePair<string, string>>> Reference()
    {
        var decoder = new HpackDecoder();
        return C4Blocks.Select(block => Decode(decoder, block)).ToList();
    }

    [Fact]
    public void EveryTwoWaySplitDecodesTheSame()
    {
        List<List<KeyValuePair<string, string>>> expected = Reference();
        for (int block = 0; block < C4Blocks.Length; block++)
        {
            for (int cut = 0; cut <= C4Blocks[block].Length; cut++)
            {
                var decoder = new HpackDecoder();
                for (int earlier = 0; earlier < block; earlier++)
                {
                    Decode(decoder, C4Blocks[earlier]);
                }

                var sink = new RecordingSink();
                decoder.Decode(C4Blocks[block].AsSpan(0, cut), endHeaders: false, sink);
                decoder.Decode(C4Blocks[block].AsSpan(cut), endHeaders: true, sink);
                Assert.True(expected[block].SequenceEqual(sink.Fields), $"block {block} cut at {cut}");
            }
        }
    }

    [Fact]
    public void OneByteFragmentsDecodeTheSame()
    {
        List<List<KeyValuePair<string, string>>> expected = Reference();
        var decoder = new HpackDecoder();
        for (int block = 0; block < C4Blocks.Length; block++)
        {
            var sink = new RecordingSink();
            for (int i = 0; i < C4Blocks[block].Length; i++)
            {
                decoder.Decode(C4Blocks[block].AsSpan(i, 1), endHeaders: i == C4Blocks[block].Length - 1, sink);
            }

            Assert.Equal(expected[block], sink.Fields);
        }
    }

    [Fact]
    public void MultiSegmentSequenceDecodesTheSame()
    {
        List<List<KeyValuePair<string, string>>> expected = Reference();
        var decoder = new HpackDecoder();
        for (int block = 0; block < C4Blocks.Length; block++)
        {
            var sink = new RecordingSink();
            decoder.Decode(TestSequences.Segmented(C4Blocks[block], 3), endHeaders: true, sink);
            Assert.Equal(expected[block], sink.Fields);
        }
    }
}
