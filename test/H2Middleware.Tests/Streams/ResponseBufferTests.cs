using System.Buffers;
using System.IO.Pipelines;
using H2Middleware.Streams;

namespace H2Middleware.Tests.Streams;

/// <summary>
/// The response buffer's two halves: a short body stays in its array and never touches the pipe; a longer one
/// continues in the pipe, after the array's bytes, with the pipe's back-pressure.
/// </summary>
public class ResponseBufferTests
{
    private const int PauseThreshold = 8 * 1024;

    private static Pipe NewPipe() => new(new PipeOptions(
        pauseWriterThreshold: PauseThreshold,
        resumeWriterThreshold: PauseThreshold / 2,
        readerScheduler: PipeScheduler.Inline,
        writerScheduler: PipeScheduler.Inline,
        useSynchronizationContext: false));

    private static byte[] Bytes(int count, int seed = 0) => Enumerable.Range(seed, count).Select(i => (byte)(i * 7)).ToArray();

    /// <summary>Reads and releases everything published, as the serve loop would; returns the bytes and whether the body ended.</summary>
    private static (byte[] Data, bool Completed) Drain(ResponseBuffer buffer)
    {
        var data = new List<byte>();
        bool completed = false;
        while (buffer.TryRead(out ReadOnlySequence<byte> read, out bool end))
        {
            data.AddRange(read.ToArray());
            buffer.Release(read.Length);
            completed = end;
            if (end || read.IsEmpty)
            {
                break;
            }
        }

        return (data.ToArray(), completed);
    }

    [Fact]
    public async Task AShortBodyIsReadFromTheArrayAndNeverReachesThePipe()
    {
        Pipe pipe = NewPipe();
        var buffer = new ResponseBuffer(pipe, MemoryPool<byte>.Shared);
        byte[] body = Bytes(13);

        Assert.True(buffer.TryWriteInline(body));
        FlushResult flushed = await buffer.FlushAsync(abandoned: false, CancellationToken.None);
        buffer.CompleteWriting();

        Assert.False(flushed.IsCompleted);
        (byte[] data, bool completed) = Drain(buffer);
        Assert.Equal(body, data);
        Assert.True(completed);
        pipe.Writer.Complete();
        Assert.True(pipe.Reader.TryRead(out ReadResult pipeRead));
        Assert.True(pipeRead.Buffer.IsEmpty, "the short body went through the pipe");
    }

    [Fact]
    public async Task WrittenBytesStayInvisibleUntilFlushed()
    {
        var buffer = new ResponseBuffer(NewPipe(), MemoryPool<byte>.Shared);
        Span<byte> span = buffer.GetSpan(3);
        Bytes(3).CopyTo(span);
        buffer.Advance(3);

        Assert.False(buffer.TryRead(out _, out _));
        Assert.Equal(3, buffer.UnflushedBytes);

        await buffer.FlushAsync(abandoned: false, CancellationToken.None);
        Assert.Equal(0, buffer.UnflushedBytes);
        Assert.True(buffer.TryRead(out ReadOnlySequence<byte> read, out bool completed));
        Assert.Equal(Bytes(3), read.ToArray());
        Assert.False(completed);
    }

    [Fact]
    public async Task APartlyReleasedReadIsReadAgainFromWhereItStopped()
    {
        var buffer = new ResponseBuffer(NewPipe(), MemoryPool<byte>.Shared);
        byte[] body = Bytes(100);
        buffer.TryWriteInline(body);
        await buffer.FlushAsync(abandoned: false, CancellationToken.None);

        Assert.True(buffer.TryRead(out ReadOnlySequence<byte> first, out _));
        Assert.Equal(100, first.Length);
        buffer.Release(40);

        Assert.True(buffer.TryRead(out ReadOnlySequence<byte> rest, out _));
        Assert.Equal(body[40..], rest.ToArray());
    }

    [Fact]
    public async Task ABodyThatOutgrowsTheArrayContinuesInThePipeInOrder()
    {
        Pipe pipe = NewPipe();
        var buffer = new ResponseBuffer(pipe, MemoryPool<byte>.Shared);
        byte[] body = Bytes(7000);

        Span<byte> first = buffer.GetSpan(3000);
        body.AsSpan(0, 3000).CopyTo(first);
        buffer.Advance(3000);
        // 4,000 more do not fit in what is left of the 4 KiB array: they go to the pipe, after the 3,000 above.
        Span<byte> second = buffer.GetSpan(4000);
        body.AsSpan(3000).CopyTo(second);
        buffer.Advance(4000);
        await buffer.FlushAsync(abandoned: false, CancellationToken.None);
        buffer.CompleteWriting();

        Assert.True(buffer.TryRead(out ReadOnlySequence<byte> fromArray, out bool endAfterArray));
        Assert.Equal(body[..3000], fromArray.ToArray());
        Assert.False(endAfterArray, "the body was reported complete before the pipe's part was read");
        buffer.Release(fromArray.Length);

        (byte[] rest, bool completed) = Drain(buffer);
        Assert.Equal(body[3000..], rest);
        Assert.True(completed);
    }

    [Fact]
    public async Task OnceInThePipeTheHandlerWaitsForTheReaderPastThePauseThreshold()
    {
        var buffer = new ResponseBuffer(NewPipe(), MemoryPool<byte>.Shared);
        Assert.True(buffer.TryWriteInline(Bytes(4096)));
        Span<byte> span = buffer.GetSpan(PauseThreshold * 2);
        buffer.Advance(PauseThreshold * 2);

        ValueTask<FlushResult> flush = buffer.FlushAsync(abandoned: false, CancellationToken.None);
        Assert.False(flush.IsCompleted, "a flush past the pipe's pause threshold did not wait for the reader");

        (byte[] data, _) = Drain(buffer);
        Assert.Equal(4096 + (PauseThreshold * 2), data.Length);
        FlushResult result = await flush.AsTask().WaitAsync(TimeSpan.FromSeconds(10));
        Assert.False(result.IsCompleted);
    }

    [Fact]
    public async Task FlushesOfAnAbandonedBodyReportThatNoOneReads()
    {
        var buffer = new ResponseBuffer(NewPipe(), MemoryPool<byte>.Shared);
        buffer.TryWriteInline(Bytes(10));
        Assert.True((await buffer.FlushAsync(abandoned: true, CancellationToken.None)).IsCompleted);

        buffer.AbandonReading();
        buffer.GetSpan(5000);
        buffer.Advance(5000);
        Assert.True((await buffer.FlushAsync(abandoned: false, CancellationToken.None)).IsCompleted, "the pipe's flush did not see the abandoned reader");
    }

    [Fact]
    public async Task AfterResetTheBufferServesTheNextBodyFromTheStart()
    {
        var buffer = new ResponseBuffer(NewPipe(), MemoryPool<byte>.Shared);
        buffer.TryWriteInline(Bytes(4000));
        buffer.GetSpan(6000);
        buffer.Advance(6000);
        buffer.CompleteWriting();
        Drain(buffer);
        buffer.Reset();

        Assert.False(buffer.TryRead(out _, out _), "a reset buffer still reported the last body");
        byte[] next = Bytes(20, seed: 5);
        Assert.True(buffer.TryWriteInline(next));
        await buffer.FlushAsync(abandoned: false, CancellationToken.None);
        buffer.CompleteWriting();
        (byte[] data, bool completed) = Drain(buffer);
        Assert.Equal(next, data);
        Assert.True(completed);
    }

    [Fact]
    public async Task AWriterAndAReaderOnTwoThreadsPassEveryByteInOrder()
    {
        const int BodyLength = 1024 * 1024;
        byte[] body = Bytes(BodyLength);
        for (int round = 0; round < 20; round++)
        {
            var buffer = new ResponseBuffer(new Pipe(new PipeOptions(pauseWriterThreshold: PauseThreshold, resumeWriterThreshold: PauseThreshold / 2, useSynchronizationContext: false)), MemoryPool<byte>.Shared);
            var random = new Random(round);
            int[] chunks = Enumerable.Range(0, 4000).Select(_ => random.Next(1, 900)).ToArray();
            Task writer = Task.Run(async () =>
            {
                int offset = 0;
                for (int i = 0; offset < BodyLength; i++)
                {
                    int length = Math.Min(chunks[i % chunks.Length], BodyLength - offset);
                    Span<byte> span = buffer.GetSpan(length);
                    body.AsSpan(offset, length).CopyTo(span);
                    buffer.Advance(length);
                    offset += length;
                    if (i % 3 == 0)
                    {
                        await buffer.FlushAsync(abandoned: false, CancellationToken.None);
                    }
                }

                buffer.CompleteWriting();
            });

            var received = new MemoryStream();
            Task reader = Task.Run(() =>
            {
                var partial = new Random(round + 1000);
                while (true)
                {
                    if (!buffer.TryRead(out ReadOnlySequence<byte> read, out bool completed))
                    {
                        Thread.Yield();
                        continue;
                    }

                    long take = completed || read.Length < 2 ? read.Length : partial.NextInt64(1, read.Length + 1);
                    foreach (ReadOnlyMemory<byte> segment in read.Slice(0, take))
                    {
                        received.Write(segment.Span);
                    }

                    buffer.Release(take);
                    if (completed && take == read.Length)
                    {
                        return;
                    }
                }
            });

            await Task.WhenAll(writer, reader).WaitAsync(TimeSpan.FromSeconds(60));
            Assert.Equal(body, received.ToArray());
        }
    }
    [Fact]
    public async Task EachBodyRentsOneBlockAndTheRecycledBufferGivesItBack()
    {
        var pool = new CountingPool();
        var buffer = new ResponseBuffer(NewPipe(), pool);
        for (int body = 0; body < 3; body++)
        {
            buffer.TryWriteInline(Bytes(10, seed: body));
            buffer.TryWriteInline(Bytes(10, seed: body + 1));
            await buffer.FlushAsync(abandoned: false, CancellationToken.None);
            buffer.CompleteWriting();
            Assert.Equal([.. Bytes(10, seed: body), .. Bytes(10, seed: body + 1)], Drain(buffer).Data);
            Assert.Equal(1, pool.Outstanding);
            buffer.Reset();
            Assert.Equal(0, pool.Outstanding);
        }

        buffer.ReleaseBlock();
        Assert.Equal(0, pool.Outstanding);
    }

    [Fact]
    public void AnEmptyWriteRentsNothing()
    {
        var pool = new CountingPool();
        var buffer = new ResponseBuffer(NewPipe(), pool);
        Assert.False(buffer.TryWriteInline(ReadOnlySpan<byte>.Empty));
        Assert.Equal(0, pool.Outstanding);
    }

    [Fact]
    public async Task ACancelledFlushIsReportedOnceWhileTheBodyIsInTheArray()
    {
        var buffer = new ResponseBuffer(NewPipe(), MemoryPool<byte>.Shared);
        buffer.TryWriteInline(Bytes(10));
        buffer.CancelPendingFlush();

        Assert.True((await buffer.FlushAsync(abandoned: false, CancellationToken.None)).IsCanceled);
        Assert.False((await buffer.FlushAsync(abandoned: false, CancellationToken.None)).IsCanceled);
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => buffer.FlushAsync(abandoned: false, new CancellationToken(canceled: true)).AsTask());
    }

    [Fact]
    public async Task NothingIsWrittenOrPublishedAfterTheBodyCompleted()
    {
        var buffer = new ResponseBuffer(NewPipe(), MemoryPool<byte>.Shared);
        buffer.TryWriteInline(Bytes(10));
        buffer.GetSpan(5);
        buffer.CompleteWriting();

        Assert.Throws<InvalidOperationException>(() => buffer.Advance(5));
        Assert.True((await buffer.FlushAsync(abandoned: false, CancellationToken.None)).IsCompleted);
        (byte[] data, bool completed) = Drain(buffer);
        Assert.Equal(Bytes(10), data);
        Assert.True(completed);
    }

    /// <summary>Array blocks, counted: how many are rented and not yet given back (the probe block made at construction included).</summary>
    private sealed class CountingPool : MemoryPool<byte>
    {
        public int Outstanding;

        public override int MaxBufferSize => 4096;

        public override IMemoryOwner<byte> Rent(int minBufferSize = -1)
        {
            Outstanding++;
            return new Block(this);
        }

        protected override void Dispose(bool disposing)
        {
        }

        private sealed class Block(CountingPool pool) : IMemoryOwner<byte>
        {
            public Memory<byte> Memory { get; } = new byte[4096];

            public void Dispose() => pool.Outstanding--;
        }
    }
    [Fact]
    public async Task WithAPoolWhoseBlocksAreNotArraysEveryBodyGoesThroughThePipe()
    {
        var buffer = new ResponseBuffer(NewPipe(), new ManagedBlockPool());
        Assert.False(buffer.TryWriteInline(Bytes(10)));

        Bytes(10).CopyTo(buffer.GetSpan(10));
        buffer.Advance(10);
        await buffer.FlushAsync(abandoned: false, CancellationToken.None);
        buffer.CompleteWriting();
        Assert.Equal(Bytes(10), Drain(buffer).Data);
    }

    /// <summary>Blocks made by a MemoryManager: TryGetArray fails on them.</summary>
    private sealed class ManagedBlockPool : MemoryPool<byte>
    {
        public override int MaxBufferSize => 4096;

        public override IMemoryOwner<byte> Rent(int minBufferSize = -1) => new Block();

        protected override void Dispose(bool disposing)
        {
        }

        private sealed class Block : MemoryManager<byte>
        {
            private readonly byte[] _bytes = new byte[4096];

            public override Span<byte> GetSpan() => _bytes;

            public override MemoryHandle Pin(int elementIndex = 0) => throw new NotSupportedException();

            public override void Unpin()
            {
            }

            protected override void Dispose(bool disposing)
            {
            }
        }
    }
}
