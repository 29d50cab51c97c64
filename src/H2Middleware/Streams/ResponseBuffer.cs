using System.Buffers;
using System.IO.Pipelines;
using System.Runtime.InteropServices;

namespace H2Middleware.Streams;

/// <summary>
/// A stream's response body between its handler and the serve loop. Most bodies are short and written at once: they
/// go into a small array, published to the loop by a volatile count, with no lock, pool block or pipe operation on
/// either side. A body that outgrows the array continues in the stream's pipe, which bounds what a handler may buffer
/// (its pause threshold); the loop sends the array's bytes before the pipe's.
/// </summary>
/// <remarks>
/// Handler side: <see cref="GetMemory"/>, <see cref="GetSpan"/>, <see cref="Advance"/>, <see cref="FlushAsync"/>,
/// <see cref="CompleteWriting"/>. Serve-loop side: <see cref="TryRead"/>, <see cref="Release"/>,
/// <see cref="AbandonReading"/>, <see cref="EndReading"/>, <see cref="Reset"/>. The writer publishes in the order
/// array bytes, "pipe in use", "writing completed"; the reader reads those in the opposite order, so a reader that
/// sees the body completed without the pipe has seen every byte of it.
/// </remarks>
internal sealed class ResponseBuffer(Pipe pipe, MemoryPool<byte> pool)
{
    /// <summary>
    /// One block of the connection's pool (the pipe's block size), so a short body costs what its pipe block did;
    /// ArrayPool was tried and dropped arrays under load (1,600 bodies in flight outgrow its per-core stacks).
    /// </summary>
    private readonly int _inlineCapacity = IsArrayBacked(pool) ? Math.Min(4096, pool.MaxBufferSize) : 0;

    private static readonly FlushResult Flushed = new(isCanceled: false, isCompleted: false);
    private static readonly FlushResult FlushedToNoOne = new(isCanceled: false, isCompleted: true);
    private static readonly FlushResult FlushCanceled = new(isCanceled: true, isCompleted: false);

    // Rented by the writer at its first short write, returned by the loop when the stream is recycled. Keeping it with
    // the pooled stream saved 2% of S1 but held blocks for a connection's life behind one long-lived stream.
    // Kept as its array and offset: spans and sequences over an array need no type checks, unlike over a Memory.
    private IMemoryOwner<byte>? _inlineOwner;
    private byte[]? _inline;
    private int _inlineStart;
    private int _inlineWritten;
    private bool _writingInline;
    private int _inlinePublished;
    private volatile bool _pipeInUse;
    private volatile bool _writingCompleted;
    private volatile bool _flushCanceled;

    // The serve loop's.
    private int _inlineSent;
    private bool _readFromPipe;
    private bool _pipeReaderCompleted;
    private ReadOnlySequence<byte> _pipeRead;

    public Memory<byte> GetMemory(int sizeHint)
    {
        if (HasInlineRoom(sizeHint))
        {
            _writingInline = true;
            return _inline.AsMemory(_inlineStart + _inlineWritten, _inlineCapacity - _inlineWritten);
        }

        UsePipe();
        return pipe.Writer.GetMemory(sizeHint);
    }

    public Span<byte> GetSpan(int sizeHint)
    {
        if (HasInlineRoom(sizeHint))
        {
            _writingInline = true;
            return _inline.AsSpan(_inlineStart + _inlineWritten, _inlineCapacity - _inlineWritten);
        }

        UsePipe();
        return pipe.Writer.GetSpan(sizeHint);
    }

    public void Advance(int bytes)
    {
        if (_writingCompleted)
        {
            throw new InvalidOperationException("The response body is complete; nothing more can be written.");
        }

        if (!_writingInline)
        {
            pipe.Writer.Advance(bytes);
            return;
        }

        ArgumentOutOfRangeException.ThrowIfNegative(bytes);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(bytes, _inlineCapacity - _inlineWritten);
        _inlineWritten += bytes;
    }

    /// <summary>Copies a short write whole into the array, if it still fits there; the caller flushes.</summary>
    public bool TryWriteInline(ReadOnlySpan<byte> source)
    {
        if (source.IsEmpty || !HasInlineRoom(source.Length))
        {
            return false;
        }

        source.CopyTo(_inline.AsSpan(_inlineStart + _inlineWritten));
        _inlineWritten += source.Length;
        return true;
    }

    /// <summary>
    /// Makes what was written visible to the serve loop. While the body is in the array this never waits: the array
    /// is its own bound. <paramref name="abandoned"/> is reported as the pipe reports a reader that has gone.
    /// </summary>
    public ValueTask<FlushResult> FlushAsync(bool abandoned, CancellationToken cancellationToken)
    {
        if (_writingCompleted)
        {
            return new ValueTask<FlushResult>(FlushedToNoOne);
        }

        if (_pipeInUse)
        {
            return pipe.Writer.FlushAsync(cancellationToken);
        }

        Volatile.Write(ref _inlinePublished, _inlineWritten);

        if (cancellationToken.IsCancellationRequested)
        {
            return ValueTask.FromCanceled<FlushResult>(cancellationToken);
        }

        // A cancelled flush reports it once, as the pipe's would.
        if (_flushCanceled)
        {
            _flushCanceled = false;
            return new ValueTask<FlushResult>(FlushCanceled);
        }

        return new ValueTask<FlushResult>(abandoned ? FlushedToNoOne : Flushed);
    }

    public long UnflushedBytes => _inlineWritten - _inlinePublished + (_pipeInUse ? pipe.Writer.UnflushedBytes : 0);

    public void CancelPendingFlush()
    {
        if (_pipeInUse)
        {
            pipe.Writer.CancelPendingFlush();
        }
        else
        {
            _flushCanceled = true;
        }
    }

    /// <summary>The body is complete: everything written is published, then the completion.</summary>
    public void CompleteWriting()
    {
        Volatile.Write(ref _inlinePublished, _inlineWritten);
        if (_pipeInUse)
        {
            pipe.Writer.Complete();
        }

        _writingCompleted = true;
    }

    private bool HasInlineRoom(int sizeHint)
    {
        if (_pipeInUse || _inlineCapacity - _inlineWritten < Math.Max(sizeHint, 1))
        {
            return false;
        }

        if (_inlineOwner is null)
        {
            IMemoryOwner<byte> owner = pool.Rent(_inlineCapacity);
            if (!MemoryMarshal.TryGetArray<byte>(owner.Memory, out ArraySegment<byte> block) || block.Count < _inlineCapacity)
            {
                owner.Dispose();
                return false;
            }

            _inlineOwner = owner;
            _inline = block.Array;
            _inlineStart = block.Offset;
        }

        return true;
    }

    /// <summary>Whether the pool's blocks are arrays (Kestrel's and the shared pool's are); with another pool every body uses the pipe.</summary>
    private static bool IsArrayBacked(MemoryPool<byte> pool)
    {
        using IMemoryOwner<byte> block = pool.Rent(1);
        return MemoryMarshal.TryGetArray<byte>(block.Memory, out _);
    }

    /// <summary>
    /// The body outgrew the array: what it holds is published, then every later byte goes to the pipe. Published first,
    /// even if not flushed yet, so that a loop that sees the pipe in use has seen the array's final count and can never
    /// read pipe bytes ahead of the array's; they may leave before the handler's flush, which a flush only allows.
    /// </summary>
    private void UsePipe()
    {
        if (!_pipeInUse)
        {
            Volatile.Write(ref _inlinePublished, _inlineWritten);
            _pipeInUse = true;
            if (_flushCanceled)
            {
                _flushCanceled = false;
                pipe.Writer.CancelPendingFlush();
            }
        }

        _writingInline = false;
    }

    /// <summary>
    /// The next published bytes to send, the array's before the pipe's, and whether they end the body. False when
    /// there is nothing: no bytes and no completion. A successful read is followed by one <see cref="Release"/>.
    /// </summary>
    public bool TryRead(out ReadOnlySequence<byte> data, out bool completed)
    {
        bool writingCompleted = _writingCompleted;
        bool pipeInUse = _pipeInUse;
        int published = Volatile.Read(ref _inlinePublished);
        _readFromPipe = false;
        if (published > _inlineSent)
        {
            data = new ReadOnlySequence<byte>(_inline!, _inlineStart + _inlineSent, published - _inlineSent);
            completed = writingCompleted && !pipeInUse;
            return true;
        }

        if (pipeInUse)
        {
            if (pipe.Reader.TryRead(out ReadResult result))
            {
                _readFromPipe = true;
                _pipeRead = data = result.Buffer;
                completed = result.IsCompleted;
                return true;
            }

            data = default;
            completed = false;
            return false;
        }

        data = default;
        completed = writingCompleted;
        return writingCompleted;
    }

    /// <summary>Gives back the last read; its first <paramref name="consumed"/> bytes are gone, the rest is read again.</summary>
    public void Release(long consumed)
    {
        if (_readFromPipe)
        {
            pipe.Reader.AdvanceTo(_pipeRead.GetPosition(consumed));
            _pipeRead = default;
            _readFromPipe = false;
        }
        else
        {
            _inlineSent += (int)consumed;
        }
    }

    /// <summary>The stream ended abnormally: a handler's flushes to the pipe, now or later, report that no one reads.</summary>
    public void AbandonReading()
    {
        _pipeReaderCompleted = true;
        pipe.Reader.Complete();
    }

    /// <summary>The whole body has been sent: the pipe, if the body reached it, lets go of its buffers.</summary>
    public void EndReading()
    {
        if (_pipeInUse)
        {
            _pipeReaderCompleted = true;
            pipe.Reader.Complete();
        }
    }

    /// <summary>Gives the block back to the memory pool; called on the serve loop, with no handler left to write.</summary>
    public void ReleaseBlock()
    {
        _inlineOwner?.Dispose();
        _inlineOwner = null;
        _inline = null;
    }

    /// <summary>Readies the buffer for the stream object's next use; nothing of the last handler writes any more.</summary>
    public void Reset()
    {
        if (_pipeInUse || _pipeReaderCompleted)
        {
            pipe.Reader.Complete();
            pipe.Writer.Complete();
            pipe.Reset();
        }

        ReleaseBlock();
        _inlineWritten = 0;
        _writingInline = false;
        _flushCanceled = false;
        _inlinePublished = 0;
        _pipeInUse = false;
        _writingCompleted = false;
        _inlineSent = 0;
        _readFromPipe = false;
        _pipeReaderCompleted = false;
        _pipeRead = default;
    }
}
