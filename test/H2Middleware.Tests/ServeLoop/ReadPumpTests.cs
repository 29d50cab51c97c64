using System.IO.Pipelines;
using H2Middleware.ServeLoop;

namespace H2Middleware.Tests.ServeLoop;

/// <summary>
/// The read pump reports a transport read to the loop only once the buffer holds what the loop asked for, or the
/// transport completed, was cancelled or failed; the bytes it waited over are remembered for the keep-alive PING.
/// </summary>
public class ReadPumpTests
{
    // Inline schedulers: a flush runs the pump's continuation before it returns, so every step is deterministic.
    private readonly Pipe _transport = new(new PipeOptions(readerScheduler: PipeScheduler.Inline, writerScheduler: PipeScheduler.Inline, pauseWriterThreshold: 0, useSynchronizationContext: false));
    private int _reports;

    private ReadPump CreatePump() => new(_transport.Reader, () => _reports++);

    private async Task SendAsync(int bytes) => await _transport.Writer.WriteAsync(new byte[bytes]);

    [Fact]
    public async Task AReadIsReportedOnlyOnceTheBufferHoldsTheMinimum()
    {
        ReadPump pump = CreatePump();
        Assert.True(pump.TryStart(16_393, out _));

        for (int block = 0; block < 4; block++)
        {
            await SendAsync(4096);
            Assert.Equal(0, _reports);
        }

        Assert.True(pump.TakeBytesArrived());
        Assert.False(pump.TakeBytesArrived());

        await SendAsync(9);
        Assert.Equal(1, _reports);
        Assert.True(pump.TryTakeResult(out ReadResult result, out _));
        Assert.Equal(16_393, result.Buffer.Length);
        Assert.False(pump.InFlight);
    }

    [Fact]
    public async Task BytesAlreadyBufferedBeyondTheMinimumAreReportedAtOnce()
    {
        ReadPump pump = CreatePump();
        await SendAsync(100);

        Assert.True(pump.TryStart(9, out _));

        Assert.Equal(1, _reports);
        Assert.True(pump.TryTakeResult(out ReadResult result, out _));
        Assert.Equal(100, result.Buffer.Length);
        Assert.False(pump.TakeBytesArrived());
    }

    [Fact]
    public async Task TheNextReadCountsFromWhereTheLoopStoppedConsuming()
    {
        ReadPump pump = CreatePump();
        Assert.True(pump.TryStart(1, out _));
        await SendAsync(20);
        Assert.True(pump.TryTakeResult(out ReadResult first, out _));
        pump.AdvanceTo(first.Buffer.GetPosition(15), first.Buffer.End);

        Assert.True(pump.TryStart(12, out _));
        await SendAsync(6);
        Assert.Equal(1, _reports);
        await SendAsync(1);

        Assert.Equal(2, _reports);
        Assert.True(pump.TryTakeResult(out ReadResult second, out _));
        Assert.Equal(12, second.Buffer.Length);
    }

    [Fact]
    public async Task ACompletedTransportIsReportedWithAShortBuffer()
    {
        ReadPump pump = CreatePump();
        Assert.True(pump.TryStart(1_000, out _));
        await SendAsync(10);

        await _transport.Writer.CompleteAsync();

        Assert.Equal(1, _reports);
        Assert.True(pump.TryTakeResult(out ReadResult result, out _));
        Assert.True(result.IsCompleted);
        Assert.Equal(10, result.Buffer.Length);
    }

    [Fact]
    public async Task ACancelledReadIsReported()
    {
        ReadPump pump = CreatePump();
        Assert.True(pump.TryStart(1_000, out _));
        await SendAsync(10);

        pump.CancelPendingRead();

        Assert.Equal(1, _reports);
        Assert.True(pump.TryTakeResult(out ReadResult result, out _));
        Assert.True(result.IsCanceled);
    }

    [Fact]
    public async Task AFailedTransportIsReportedWithItsError()
    {
        ReadPump pump = CreatePump();
        Assert.True(pump.TryStart(1_000, out _));
        await SendAsync(10);

        var failure = new IOException("connection reset");
        await _transport.Writer.CompleteAsync(failure);

        Assert.Equal(1, _reports);
        Assert.False(pump.TryTakeResult(out _, out Exception? error));
        Assert.Same(failure, error);
    }
}
