using System.Buffers;
using H2Middleware.Streams;
using H2Middleware.Tests.ServeLoop.Harness;

namespace H2Middleware.Tests.Streams;

/// <summary>
/// A body that arrived whole goes around the request pipe only if the loop hands it over before the handler's first
/// use of its reader; whichever side comes first decides, once, and the block goes back to the pool with the stream.
/// </summary>
public class WholeRequestBodyTests
{
    private static readonly byte[] Body = "a whole request body"u8.ToArray();

    [Fact]
    public void ABodyTakenBeforeTheHandlerLooksIsClaimedFromTheBlock()
    {
        var pool = new CountingMemoryPool(maxBufferSize: 4096);
        var whole = new WholeRequestBody(pool);

        Assert.True(whole.TryTake(new ReadOnlySequence<byte>(Body)));
        Assert.True(whole.IsTaken);
        Assert.True(whole.TryClaim(out ReadOnlySequence<byte> claimed));
        Assert.Equal(Body, claimed.ToArray());
        Assert.Equal(Body.Length, pool.OutstandingBytes);

        whole.Reset();
        Assert.Equal(0, pool.OutstandingBytes);
        Assert.False(whole.IsTaken);
    }

    [Fact]
    public void AHandlerThatLooksFirstSendsTheBodyThroughThePipe()
    {
        var pool = new CountingMemoryPool(maxBufferSize: 4096);
        var whole = new WholeRequestBody(pool);

        Assert.False(whole.TryClaim(out _));
        Assert.False(whole.TryTake(new ReadOnlySequence<byte>(Body)));
        Assert.False(whole.IsTaken);
        Assert.Equal(0, pool.OutstandingBytes);

        // The decision is per use of the stream object: after a reset the loop may take a body again.
        whole.Reset();
        Assert.True(whole.TryTake(new ReadOnlySequence<byte>(Body)));
    }

    [Fact]
    public void ABodyLargerThanOneBlockOrEmptyIsNotTaken()
    {
        var pool = new CountingMemoryPool(maxBufferSize: 16);
        var whole = new WholeRequestBody(pool);

        Assert.False(whole.TryTake(new ReadOnlySequence<byte>(Body)));
        Assert.False(whole.TryTake(ReadOnlySequence<byte>.Empty));
        Assert.False(whole.IsTaken);
        Assert.Equal(0, pool.OutstandingBytes);
    }

    [Fact]
    public void WithAPoolWhoseBlocksAreNotArraysTheBodyIsNotTaken()
    {
        var whole = new WholeRequestBody(new ManagedBlockMemoryPool());

        Assert.False(whole.TryTake(new ReadOnlySequence<byte>(Body)));
        Assert.False(whole.TryClaim(out _));
    }

    [Fact]
    public void ABodyInSeveralSegmentsIsCopiedWhole()
    {
        var whole = new WholeRequestBody(new CountingMemoryPool(maxBufferSize: 4096));

        Assert.True(whole.TryTake(TestSequences.Segmented(Body, 3)));
        Assert.True(whole.TryClaim(out ReadOnlySequence<byte> claimed));
        Assert.Equal(Body, claimed.ToArray());
    }

    [Fact]
    public void ReleaseGivesTheBlockBackAndKeepsTheDecision()
    {
        var pool = new CountingMemoryPool(maxBufferSize: 4096);
        var whole = new WholeRequestBody(pool);
        Assert.True(whole.TryTake(new ReadOnlySequence<byte>(Body)));

        whole.Release();
        whole.Release();

        Assert.Equal(0, pool.OutstandingBytes);
        Assert.True(whole.IsTaken);
    }
}
