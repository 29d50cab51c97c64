using System.Buffers;
using BenchmarkDotNet.Attributes;
using H2Middleware.Frames;

namespace H2Middleware.Benchmarks;

/// <summary>Frame read and write in steady state: a reused output buffer, frames parsed in place.</summary>
[MemoryDiagnoser]
public class FrameCodecBenchmarks
{
    private readonly ArrayBufferWriter<byte> _output = new(64 * 1024);
    private readonly byte[] _payload = new byte[16_384];
    private readonly byte[] _headerBlock = new byte[200];
    private byte[] _dataFrame = [];
    private byte[] _headersFrame = [];
    private byte[] _batch = [];

    [GlobalSetup]
    public void Setup()
    {
        _dataFrame = Encode(w => Http2FrameWriter.WriteData(w, 1, _payload, endStream: false));
        _headersFrame = Encode(w => Http2FrameWriter.WriteHeaders(w, 1, _headerBlock, endStream: true, 16_384));
        _batch = Encode(w =>
        {
            Http2FrameWriter.WriteSettings(w, [new Http2Setting(Http2SettingsParameter.InitialWindowSize, 1 << 20)]);
            Http2FrameWriter.WriteWindowUpdate(w, 0, 1 << 20);
            Http2FrameWriter.WriteHeaders(w, 1, _headerBlock, endStream: false, 16_384);
            Http2FrameWriter.WriteData(w, 1, _payload.AsSpan(0, 1024), endStream: true);
        });
    }

    private static byte[] Encode(Action<IBufferWriter<byte>> write)
    {
        var output = new ArrayBufferWriter<byte>();
        write(output);
        return output.WrittenSpan.ToArray();
    }

    [Benchmark]
    public long ReadData16K()
    {
        var buffer = new ReadOnlySequence<byte>(_dataFrame);
        Http2FrameReader.TryReadFrame(ref buffer, 16_384, out Http2Frame frame, out _);
        return frame.Payload.Length;
    }

    [Benchmark]
    public long ReadHeaders()
    {
        var buffer = new ReadOnlySequence<byte>(_headersFrame);
        Http2FrameReader.TryReadFrame(ref buffer, 16_384, out Http2Frame frame, out _);
        return frame.Payload.Length;
    }

    [Benchmark]
    public int ReadBatchOfFour()
    {
        var buffer = new ReadOnlySequence<byte>(_batch);
        int count = 0;
        while (Http2FrameReader.TryReadFrame(ref buffer, 16_384, out _, out _) == Http2FrameReadStatus.Frame)
        {
            count++;
        }

        return count;
    }

    [Benchmark]
    public int WriteData16K()
    {
        _output.ResetWrittenCount();
        Http2FrameWriter.WriteData(_output, 1, _payload, endStream: false);
        return _output.WrittenCount;
    }

    [Benchmark]
    public int WriteHeaders()
    {
        _output.ResetWrittenCount();
        Http2FrameWriter.WriteHeaders(_output, 1, _headerBlock, endStream: true, 16_384);
        return _output.WrittenCount;
    }

    [Benchmark]
    public int WriteControlFrames()
    {
        _output.ResetWrittenCount();
        Http2FrameWriter.WriteSettingsAck(_output);
        Http2FrameWriter.WritePing(_output, 42, ack: true);
        Http2FrameWriter.WriteWindowUpdate(_output, 1, 65_535);
        Http2FrameWriter.WriteRstStream(_output, 3, Http2ErrorCode.Cancel);
        return _output.WrittenCount;
    }
}
