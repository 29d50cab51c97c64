using System.Buffers;
using BenchmarkDotNet.Attributes;
using H2Middleware.Hpack;

namespace H2Middleware.Benchmarks;

/// <summary>HPACK decode and encode of a typical 12-header browser request and a typical response.</summary>
[MemoryDiagnoser]
public class HpackBenchmarks
{
    private static readonly (string Name, string Value)[] Request =
    [
        (":method", "GET"), (":scheme", "https"), (":authority", "www.example.com"), (":path", "/index.html?q=1"),
        ("user-agent", "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"),
        ("accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"), ("accept-language", "en-US,en;q=0.5"),
        ("accept-encoding", "gzip, deflate, br"), ("cookie", "session=abc123; theme=dark"), ("referer", "https://www.example.com/"),
        ("sec-fetch-mode", "navigate"), ("cache-control", "no-cache"),
    ];

    private readonly ArrayBufferWriter<byte> _output = new(4096);
    private readonly NoOpSink _noOpSink = new();
    private HpackDecoder _decoder = new();
    private HpackEncoder _responseEncoder = new();
    private HpackEncoder _requestEncoder = new();
    private StringSink _stringSink = new(new HeaderStringCache());
    private byte[] _firstBlock = [];
    private byte[] _steadyBlock = [];

    [GlobalSetup]
    public void Setup()
    {
        var encoder = new HpackEncoder();
        _firstBlock = EncodeRequest(encoder);
        _steadyBlock = EncodeRequest(encoder);
        _decoder = new HpackDecoder();
        _decoder.Decode(_firstBlock, endHeaders: true, _noOpSink);
        _stringSink = new StringSink(new HeaderStringCache());
        _responseEncoder = new HpackEncoder();
        _requestEncoder = new HpackEncoder();
    }

    private static byte[] EncodeRequest(HpackEncoder encoder)
    {
        var output = new ArrayBufferWriter<byte>();
        encoder.BeginHeaderBlock(output);
        foreach (var (name, value) in Request)
        {
            encoder.EncodeHeader(name, value, output);
        }

        return output.WrittenSpan.ToArray();
    }

    [Benchmark]
    public int DecodeRequestSteadyStateNoOpSink()
    {
        _decoder.Decode(_steadyBlock, endHeaders: true, _noOpSink);
        return _noOpSink.Count;
    }

    [Benchmark]
    public int DecodeRequestSteadyStateToStrings()
    {
        _decoder.Decode(_steadyBlock, endHeaders: true, _stringSink);
        return _stringSink.Count;
    }

    [Benchmark]
    public int DecodeRequestColdHuffman()
    {
        var decoder = new HpackDecoder();
        decoder.Decode(_firstBlock, endHeaders: true, _noOpSink);
        return decoder.DynamicTableCount;
    }

    [Benchmark]
    public int EncodeResponseSteadyState()
    {
        _output.ResetWrittenCount();
        _responseEncoder.BeginHeaderBlock(_output);
        _responseEncoder.EncodeStatus(200, _output);
        _responseEncoder.EncodeHeader("Content-Type", "text/html; charset=utf-8", _output);
        _responseEncoder.EncodeHeader("Content-Length", "1234", _output);
        _responseEncoder.EncodeHeader("date", "Tue, 24 Nov 2026 07:00:00 GMT", _output);
        _responseEncoder.EncodeHeader("server", "H2Middleware", _output);
        _responseEncoder.EncodeHeader("cache-control", "max-age=60", _output);
        _responseEncoder.EncodeHeader("vary", "Accept-Encoding", _output);
        return _output.WrittenCount;
    }

    [Benchmark]
    public int EncodeRequestSteadyState()
    {
        _output.ResetWrittenCount();
        _requestEncoder.BeginHeaderBlock(_output);
        foreach (var (name, value) in Request)
        {
            _requestEncoder.EncodeHeader(name, value, _output);
        }

        return _output.WrittenCount;
    }

    private sealed class NoOpSink : IHpackHeaderSink
    {
        public int Count { get; private set; }

        public void OnHeader(int staticNameIndex, ReadOnlySpan<byte> name, ReadOnlySpan<byte> value) => Count++;
    }

    private sealed class StringSink(HeaderStringCache cache) : IHpackHeaderSink
    {
        public int Count { get; private set; }

        public void OnHeader(int staticNameIndex, ReadOnlySpan<byte> name, ReadOnlySpan<byte> value)
        {
            string text = cache.GetValue(cache.GetName(staticNameIndex, name), value);
            Count += text.Length;
        }
    }
}
