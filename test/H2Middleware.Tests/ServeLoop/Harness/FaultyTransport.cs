using System.Buffers;
using System.IO.Pipelines;
using Microsoft.AspNetCore.Connections;

namespace H2Middleware.Tests.ServeLoop.Harness;

/// <summary>How an injected transport fault shows itself to the engine.</summary>
internal enum TransportFault
{
    /// <summary>The operation fails: its task faults, and one already pending is woken up to fail (a socket reset).</summary>
    Throw,

    /// <summary>
    /// The next call throws before it returns a task, as <see cref="Pipe"/> does once its other side has completed with an
    /// error (Kestrel's socket transport completes the input that way when a receive fails). A pending call is left alone.
    /// </summary>
    ThrowSynchronously,

    /// <summary>The operation reports the end: a read returns IsCompleted with no bytes, a flush IsCompleted (the peer is gone).</summary>
    Complete,
}

/// <summary>
/// The server's side of a transport whose reads and flushes can be made to fail at a chosen moment. Pass
/// <c>inner =&gt; transport = new FaultyTransport(inner)</c> as <c>wrapTransport</c> to <see cref="Http2TestClient.Start"/>.
/// </summary>
internal sealed class FaultyTransport : IDuplexPipe
{
    public FaultyTransport(IDuplexPipe inner)
    {
        Reader = new FaultyPipeReader(inner.Input);
        Writer = new FaultyPipeWriter(inner.Output);
    }

    public FaultyPipeReader Reader { get; }

    public FaultyPipeWriter Writer { get; }

    PipeReader IDuplexPipe.Input => Reader;

    PipeWriter IDuplexPipe.Output => Writer;

    public static Exception ResetError(string what) => new ConnectionResetException($"injected fault: {what}");
}

/// <summary>A transport input that delivers what the client sends until <see cref="Fail"/> is called.</summary>
internal sealed class FaultyPipeReader(PipeReader inner) : PipeReader
{
    private sealed record Fault(TransportFault Kind, Exception Error);

    private volatile Fault? _fault;
    private ReadOnlySequence<byte> _lastBuffer;
    private bool _lastWasFabricated;
    private long _consumed;
    private long _examined;
    private int _faultsDelivered;

    /// <summary>How many bytes the engine has consumed (AdvanceTo) so far, preface included.</summary>
    public long BytesConsumed => Interlocked.Read(ref _consumed);

    /// <summary>How many bytes the engine has looked at (AdvanceTo's examined) so far, preface included.</summary>
    public long BytesExamined => Interlocked.Read(ref _examined);

    /// <summary>How many reads have seen the injected fault.</summary>
    public int FaultsDelivered => Volatile.Read(ref _faultsDelivered);

    /// <summary>Makes the pending read (or, for <see cref="TransportFault.ThrowSynchronously"/>, the next call) and every later one fail.</summary>
    public void Fail(TransportFault kind, Exception? error = null)
    {
        _fault = new Fault(kind, error ?? FaultyTransport.ResetError("the connection was reset while reading"));
        if (kind != TransportFault.ThrowSynchronously)
        {
            inner.CancelPendingRead();
        }
    }

    /// <summary>Waits until the engine has consumed at least <paramref name="bytes"/> bytes, i.e. processed everything sent up to there.</summary>
    public Task WaitForConsumedAsync(long bytes, TimeSpan? timeout = null) => WaitForAsync(() => BytesConsumed, bytes, "consumed", timeout);

    /// <summary>Waits until the engine has looked at least <paramref name="bytes"/> bytes, whether or not it could use them yet.</summary>
    public Task WaitForExaminedAsync(long bytes, TimeSpan? timeout = null) => WaitForAsync(() => BytesExamined, bytes, "examined", timeout);

    private static async Task WaitForAsync(Func<long> count, long bytes, string what, TimeSpan? timeout)
    {
        using var deadline = new CancellationTokenSource(timeout ?? Http2TestClient.DefaultTimeout);
        while (count() < bytes)
        {
            try
            {
                await Task.Delay(2, deadline.Token);
            }
            catch (OperationCanceledException)
            {
                throw new TimeoutException($"The engine {what} {count()} of {bytes} bytes in time.");
            }
        }
    }

    public override ValueTask<ReadResult> ReadAsync(CancellationToken cancellationToken = default)
    {
        if (_fault is { } fault)
        {
            return Deliver(fault);
        }

        ValueTask<ReadResult> read = inner.ReadAsync(cancellationToken);
        if (!read.IsCompletedSuccessfully)
        {
            return AwaitReadAsync(read);
        }

        ReadResult result = read.Result;
        if (_fault is { Kind: not TransportFault.ThrowSynchronously } late)
        {
            inner.AdvanceTo(result.Buffer.Start);
            return Deliver(late);
        }

        return new ValueTask<ReadResult>(Remember(result));
    }

    private async ValueTask<ReadResult> AwaitReadAsync(ValueTask<ReadResult> read)
    {
        ReadResult result = await read.ConfigureAwait(false);
        if (_fault is { Kind: not TransportFault.ThrowSynchronously } fault)
        {
            // What this read brought is lost with the connection.
            inner.AdvanceTo(result.Buffer.Start);
            return await Deliver(fault).ConfigureAwait(false);
        }

        return Remember(result);
    }

    private ValueTask<ReadResult> Deliver(Fault fault)
    {
        Interlocked.Increment(ref _faultsDelivered);
        switch (fault.Kind)
        {
            case TransportFault.ThrowSynchronously:
                throw fault.Error;
            case TransportFault.Throw:
                return ValueTask.FromException<ReadResult>(fault.Error);
            default:
                _lastWasFabricated = true;
                return new ValueTask<ReadResult>(new ReadResult(ReadOnlySequence<byte>.Empty, isCanceled: false, isCompleted: true));
        }
    }

    private ReadResult Remember(ReadResult result)
    {
        _lastBuffer = result.Buffer;
        _lastWasFabricated = false;
        return result;
    }

    public override bool TryRead(out ReadResult result)
    {
        if (_fault is not null || !inner.TryRead(out result))
        {
            result = default;
            return false;
        }

        Remember(result);
        return true;
    }

    public override void AdvanceTo(SequencePosition consumed) => AdvanceTo(consumed, consumed);

    public override void AdvanceTo(SequencePosition consumed, SequencePosition examined)
    {
        if (_lastWasFabricated)
        {
            _lastWasFabricated = false;
            return;
        }

        long bytes = _lastBuffer.Slice(_lastBuffer.Start, consumed).Length;
        long examinedTotal = BytesConsumed + _lastBuffer.Slice(_lastBuffer.Start, examined).Length;
        _lastBuffer = default;
        inner.AdvanceTo(consumed, examined);
        Interlocked.Add(ref _consumed, bytes);
        Interlocked.Exchange(ref _examined, Math.Max(BytesExamined, examinedTotal));
    }

    public override void CancelPendingRead() => inner.CancelPendingRead();

    public override void Complete(Exception? exception = null) => inner.Complete(exception);
}

/// <summary>A transport output that passes writes and flushes through until <see cref="Fail"/> is called.</summary>
internal sealed class FaultyPipeWriter(PipeWriter inner) : PipeWriter
{
    private sealed record Fault(TransportFault Kind, Exception Error);

    private volatile Fault? _fault;
    private long _bytesWritten;
    private int _flushesStarted;
    private int _flushPending;
    private int _faultsDelivered;

    /// <summary>How many bytes the engine has written (Advance) so far.</summary>
    public long BytesWritten => Interlocked.Read(ref _bytesWritten);

    public int FlushesStarted => Volatile.Read(ref _flushesStarted);

    /// <summary>A flush has started and not completed: the client is not reading fast enough.</summary>
    public bool FlushPending => Volatile.Read(ref _flushPending) != 0;

    /// <summary>How many flushes have seen the injected fault.</summary>
    public int FaultsDelivered => Volatile.Read(ref _faultsDelivered);

    /// <summary>Makes the pending flush (or, for <see cref="TransportFault.ThrowSynchronously"/>, the next call) and every later one fail.</summary>
    public void Fail(TransportFault kind, Exception? error = null)
    {
        _fault = new Fault(kind, error ?? FaultyTransport.ResetError("the connection was reset while writing"));
        if (kind != TransportFault.ThrowSynchronously)
        {
            inner.CancelPendingFlush();
        }
    }

    /// <summary>Waits until a flush is stuck (the client stopped reading and its receive buffer is full).</summary>
    public async Task WaitForPendingFlushAsync(TimeSpan? timeout = null)
    {
        using var deadline = new CancellationTokenSource(timeout ?? Http2TestClient.DefaultTimeout);
        while (!FlushPending)
        {
            try
            {
                await Task.Delay(2, deadline.Token);
            }
            catch (OperationCanceledException)
            {
                throw new TimeoutException("No flush got stuck in time.");
            }
        }
    }

    public override void Advance(int bytes)
    {
        Interlocked.Add(ref _bytesWritten, bytes);
        inner.Advance(bytes);
    }

    public override Memory<byte> GetMemory(int sizeHint = 0) => inner.GetMemory(sizeHint);

    public override Span<byte> GetSpan(int sizeHint = 0) => inner.GetSpan(sizeHint);

    public override bool CanGetUnflushedBytes => inner.CanGetUnflushedBytes;

    public override long UnflushedBytes => inner.UnflushedBytes;

    public override void CancelPendingFlush() => inner.CancelPendingFlush();

    public override void Complete(Exception? exception = null) => inner.Complete(exception);

    public override ValueTask CompleteAsync(Exception? exception = null) => inner.CompleteAsync(exception);

    public override ValueTask<FlushResult> FlushAsync(CancellationToken cancellationToken = default)
    {
        Interlocked.Increment(ref _flushesStarted);
        if (_fault is { } fault)
        {
            return Deliver(fault);
        }

        ValueTask<FlushResult> flush = inner.FlushAsync(cancellationToken);
        if (!flush.IsCompletedSuccessfully)
        {
            return AwaitFlushAsync(flush);
        }

        FlushResult result = flush.Result;
        return _fault is { Kind: not TransportFault.ThrowSynchronously } late ? Deliver(late) : new ValueTask<FlushResult>(result);
    }

    private async ValueTask<FlushResult> AwaitFlushAsync(ValueTask<FlushResult> flush)
    {
        Volatile.Write(ref _flushPending, 1);
        FlushResult result;
        try
        {
            result = await flush.ConfigureAwait(false);
        }
        finally
        {
            Volatile.Write(ref _flushPending, 0);
        }

        if (_fault is { Kind: not TransportFault.ThrowSynchronously } fault)
        {
            return await Deliver(fault).ConfigureAwait(false);
        }

        return result;
    }

    private ValueTask<FlushResult> Deliver(Fault fault)
    {
        Interlocked.Increment(ref _faultsDelivered);
        return fault.Kind switch
        {
            TransportFault.ThrowSynchronously => throw fault.Error,
            TransportFault.Throw => ValueTask.FromException<FlushResult>(fault.Error),
            _ => new ValueTask<FlushResult>(new FlushResult(isCanceled: false, isCompleted: true)),
        };
    }
}
