using H2Middleware.ServeLoop;

namespace H2Middleware.Tests.ServeLoop;

/// <summary>The serve loop's inbox: many writers, one reader, nothing lost or reordered per writer, and a wait that always wakes.</summary>
public class ServeLoopInboxTests
{
    private static ServeLoopMessage Message(int streamId, long value) => new(ServeLoopMessageKind.StreamOutputReady, streamId, value, 0);

    [Fact]
    public void MessagesAreReadInOrderAndPeekingDoesNotTakeOne()
    {
        var inbox = new ServeLoopInbox();
        Assert.False(inbox.Reader.TryPeek(out _));
        for (int i = 0; i < 10; i++)
        {
            Assert.True(inbox.Writer.TryWrite(Message(1, i)));
        }

        Assert.True(inbox.Reader.TryRead(out ServeLoopMessage first));
        Assert.Equal(0, first.Value);
        Assert.True(inbox.Writer.TryWrite(Message(1, 10)));
        for (int i = 1; i <= 10; i++)
        {
            Assert.True(inbox.Reader.TryPeek(out ServeLoopMessage peeked));
            Assert.True(inbox.Reader.TryRead(out ServeLoopMessage read));
            Assert.Equal(i, peeked.Value);
            Assert.Equal(i, read.Value);
        }

        Assert.False(inbox.Reader.TryRead(out _));
    }

    [Fact]
    public async Task AWaitEndsWithTheNextMessageAndACompletedEmptyInboxSaysSo()
    {
        var inbox = new ServeLoopInbox();
        ValueTask<bool> wait = inbox.Reader.WaitToReadAsync();
        Assert.False(wait.IsCompleted);
        _ = Task.Run(() => inbox.Writer.TryWrite(Message(3, 1)));
        Assert.True(await wait.AsTask().WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.True(await inbox.Reader.WaitToReadAsync());
        Assert.True(inbox.Reader.TryRead(out _));

        wait = inbox.Reader.WaitToReadAsync();
        Assert.False(wait.IsCompleted);
        Assert.True(inbox.Writer.TryComplete());
        Assert.False(await wait.AsTask().WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.False(inbox.Writer.TryWrite(Message(3, 2)));
        Assert.False(inbox.Writer.TryComplete());
        Assert.False(await inbox.Reader.WaitToReadAsync());
    }

    [Fact]
    public async Task ManyWritersLoseNothingAndEachWritersOrderHolds()
    {
        const int Writers = 4;
        const int PerWriter = 50_000;
        var inbox = new ServeLoopInbox();
        var next = new long[Writers];
        Task reader = Task.Run(async () =>
        {
            long received = 0;
            while (received < Writers * PerWriter)
            {
                while (inbox.Reader.TryRead(out ServeLoopMessage message))
                {
                    Assert.Equal(next[message.StreamId]++, message.Value);
                    received++;
                }

                // Now and then release the arrays, as an idle connection does, while writers keep writing.
                if (received % 1000 == 0)
                {
                    inbox.ReleaseBuffers();
                }

                if (received < Writers * PerWriter)
                {
                    await inbox.Reader.WaitToReadAsync();
                }
            }
        });
        Task[] writers = [.. Enumerable.Range(0, Writers).Select(w => Task.Run(() =>
        {
            for (int i = 0; i < PerWriter; i++)
            {
                Assert.True(inbox.Writer.TryWrite(Message(w, i)));
            }
        }))];

        await Task.WhenAll(writers).WaitAsync(TimeSpan.FromSeconds(60));
        await reader.WaitAsync(TimeSpan.FromSeconds(60));
        Assert.All(next, count => Assert.Equal(PerWriter, count));
        Assert.False(inbox.Reader.TryRead(out _));
    }

    [Fact]
    public void AnInboxThatCarriedAFewMessagesIsSmall()
    {
        var warm = new ServeLoopInbox();
        warm.Writer.TryWrite(Message(1, 1));
        warm.Reader.TryRead(out _);

        long before = GC.GetAllocatedBytesForCurrentThread();
        var inbox = new ServeLoopInbox();
        for (int i = 0; i < 3; i++)
        {
            inbox.Writer.TryWrite(Message(1, i));
        }

        while (inbox.Reader.TryRead(out _))
        {
        }

        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        // The inbox, its reader, writer and lock, and one 4-message array: an unbounded channel took about 1.9 KB.
        Assert.InRange(allocated, 1, 640);
    }
}
