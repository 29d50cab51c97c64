using System.IO.Pipelines;
using H2Middleware.Streams;

namespace H2Middleware.Tests.Streams;

public class DirectWriteCompletionTests
{
    [Fact]
    public async Task ACompletionIsInFlightUntilItsResultIsDelivered()
    {
        var completion = new DirectWriteCompletion();
        ValueTask<FlushResult> write = completion.Start();
        Assert.False(completion.IsCompleting);

        completion.Complete(abandoned: true);

        FlushResult result = await write.AsTask().WaitAsync(TimeSpan.FromSeconds(10));
        Assert.True(result.IsCompleted);
        Assert.True(SpinWait.SpinUntil(() => !completion.IsCompleting, TimeSpan.FromSeconds(10)), "the completion stayed in flight after its result was delivered");
    }

    [Fact]
    public async Task TheObjectIsReusedForTheNextWriteOnceTheLastResultWasDelivered()
    {
        var completion = new DirectWriteCompletion();
        for (int i = 0; i < 3; i++)
        {
            ValueTask<FlushResult> write = completion.Start();
            completion.Complete(abandoned: false);
            FlushResult result = await write.AsTask().WaitAsync(TimeSpan.FromSeconds(10));
            Assert.False(result.IsCompleted);
        }
    }
}
