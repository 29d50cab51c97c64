using System.Buffers;
using H2Middleware.Hpack;

namespace H2Middleware.Tests.Hpack;

/// <summary>Steady-state decoding and encoding allocate nothing (the benchmarks measure it too).</summary>
public class HpackAllocationTests
{
    internal static readonly (string Name, string Value)[] BrowserRequest =
    [
        (":method", "GET"), (":scheme", "https"), (":authority", "www.example.com"), (":path", "/index.html?q=1"),
        ("user-agent", "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"),
        ("accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"), ("accept-language", "en-US,en;q=0.5"),
        ("accept-encoding", "gzip, deflate, br"), ("cookie", "session=abc123; theme=dark"), ("referer", "https://www.example.com/"),
        ("sec-fetch-mode", "navigate"), ("cache-control", "no-cache"),
    ];

    /// <summary>A sink that makes strings the way the serve loop's request sink does.</summary>
    internal sealed class MaterializingSink(HeaderStringCache cache) : IHpackHeaderSink
    {
        public int Count { get; private set; }

        public void OnHeader(int staticNameIndex, ReadOnlySpan<byte> name, ReadOnlySpan<byte> value)
        {
            string materializedName = cache.GetName(staticNameIndex, name);
            string materializedValue = cache.GetValue(materializedName, value);
            Count += materializedValue.Length > 0 ? 1 : 0;
        }
    }

    internal static byte[] EncodeRequest(HpackEncoder encoder)
    {
        var output = new ArrayBufferWriter<byte>();
        encoder.BeginHeaderBlock(output);
        foreach (var (name, value) in BrowserRequest)
        {
            encoder.EncodeHeader(name, value, output);
        }

        return output.WrittenSpan.ToArray();
    }

    [Fact]
    public void DecodingARepeatedRequestIntoStringsAllocatesNothing()
    {
        var encoder = new HpackEncoder();
        var decoder = new HpackDecoder();
        var sink = new MaterializingSink(new HeaderStringCache());
        decoder.Decode(EncodeRequest(encoder), endHeaders: true, sink);
        byte[] steadyState = EncodeRequest(encoder);
        for (int i = 0; i < 100; i++)
        {
            decoder.Decode(steadyState, endHeaders: true, sink);
        }

        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 1000; i++)
        {
            decoder.Decode(steadyState, endHeaders: true, sink);
        }

        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
        Assert.Equal(1101 * 12, sink.Count);
    }

    [Fact]
    public void EncodingATypicalResponseAllocatesNothing()
    {
        var encoder = new HpackEncoder();
        var output = new ArrayBufferWriter<byte>(4096);
        void EncodeResponse()
        {
            output.ResetWrittenCount();
            encoder.BeginHeaderBlock(output);
            encoder.EncodeStatus(200, output);
            encoder.EncodeHeader("Content-Type", "text/html; charset=utf-8", output);
            encoder.EncodeHeader("Content-Length", "1234", output);
            encoder.EncodeHeader("date", "Tue, 24 Nov 2026 07:00:00 GMT", output);
            encoder.EncodeHeader("server", "H2Middleware", output);
            encoder.EncodeHeader("cache-control", "max-age=60", output);
            encoder.EncodeHeader("vary", "Accept-Encoding", output);
        }

        for (int i = 0; i < 100; i++)
        {
            EncodeResponse();
        }

        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 1000; i++)
        {
            EncodeResponse();
        }

        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }
}
