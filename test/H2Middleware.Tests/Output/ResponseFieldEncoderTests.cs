using H2Middleware.Hpack;
using H2Middleware.Output;
using H2Middleware.Tests.Hpack;
using H2Middleware.ServeLoop;
using H2Middleware.Streams;

namespace H2Middleware.Tests.Output;

/// <summary>The response field encoder's block buffer costs a connection what its blocks need, not a fixed 4 KiB.</summary>
public class ResponseFieldEncoderTests
{
    private static readonly HttpDate Date = new(TimeProvider.System, new LoopClock(TimeProvider.System));

    // A "date" of the handler's own: the encoder adds none, so the block is the same whatever the clock says.
    private static HeaderFieldDictionary TypicalResponse() => new()
    {
        ["content-type"] = "text/plain",
        ["content-length"] = "13",
        ["date"] = "Tue, 24 Nov 2026 07:00:00 GMT",
    };

    [Fact]
    public void AnEncoderAndItsFirstTypicalBlockTakeWellUnderAKibibyte()
    {
        HeaderFieldDictionary fields = TypicalResponse();
        Assert.Null(new ResponseFieldEncoder(Date).Encode(fields, 200));

        long before = GC.GetAllocatedBytesForCurrentThread();
        var encoder = new ResponseFieldEncoder(Date);
        Assert.Null(encoder.Encode(fields, 200));
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.InRange(allocated, 1, 1024);
        Assert.Equal(4, Decode(encoder.Block).Count);
    }

    [Fact]
    public void ABlockLargerThanTheFirstBufferIsEncodedWhole()
    {
        var encoder = new ResponseFieldEncoder(Date);
        Assert.Null(encoder.Encode(TypicalResponse(), 200));
        var decoder = new HpackDecoder();
        Assert.Equal(4, Decode(encoder.Block, decoder).Count);

        HeaderFieldDictionary large = TypicalResponse();
        for (int i = 0; i < 40; i++)
        {
            large[$"x-field-{i}"] = new string((char)('a' + (i % 26)), 1000);
        }

        Assert.Null(encoder.Encode(large, 404));
        List<KeyValuePair<string, string>> fields = Decode(encoder.Block, decoder);
        Assert.Equal(KeyValuePair.Create(":status", "404"), fields[0]);
        Assert.Equal(44, fields.Count);
        Assert.Equal(new string('n', 1000), fields.Single(f => f.Key == "x-field-39").Value);

        Assert.Null(encoder.Encode(TypicalResponse(), 200));
        Assert.Equal(4, Decode(encoder.Block, decoder).Count);

        // An idle connection lets the buffer go; the next block makes one again, in the same HPACK context.
        encoder.ReleaseBuffer();
        Assert.True(encoder.Block.IsEmpty);
        Assert.Null(encoder.Encode(large, 200));
        Assert.Equal(44, Decode(encoder.Block, decoder).Count);
    }

    private static List<KeyValuePair<string, string>> Decode(ReadOnlySpan<byte> block, HpackDecoder? decoder = null)
    {
        var sink = new RecordingSink();
        (decoder ?? new HpackDecoder()).Decode(block, endHeaders: true, sink);
        return sink.Fields;
    }
}
