using H2Middleware.Frames;
using H2Middleware.Tests.ServeLoop.Harness;
using Microsoft.AspNetCore.Http;
using static H2Middleware.Tests.ServeLoop.StreamStateTests;

namespace H2Middleware.Tests.Fuzzing;

/// <summary>
/// Engine bugs the session fuzzer found, each cut down by hand from the shrunk session to a deterministic test.
/// They fail on the code as it was when found; docs/FUZZING.md describes each one and where its cause is.
/// </summary>
public class FuzzFindingsTests
{
    /// <summary>
    /// RFC 9113 §6.8: "Endpoints MUST NOT increase the value they send in the last stream identifier". After a
    /// graceful GOAWAY, a HEADERS for a new stream is ignored but still raises the highest stream id, and a later
    /// connection error sends a GOAWAY with that higher id.
    /// </summary>
    [Fact]
    public async Task ALaterGoAwayNeverRaisesTheLastStreamIdOfAnEarlierOne()
    {
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var client = await Http2TestClient.ConnectAsync(async context =>
        {
            await release.Task.WaitAsync(context.RequestAborted);
            await context.Response.WriteAsync("finished");
        });

        try
        {
            // Stream 1 stays open, so the client's GOAWAY starts a graceful shutdown that keeps the connection up.
            await client.SendGetAsync(1);
            await client.SendGoAwayAsync(0, Http2ErrorCode.NoError);
            ReceivedFrame graceful = await client.ExpectGracefulGoAwayAsync();
            Assert.Equal(1, graceful.LastStreamId);

            // Stream 3 arrives after the GOAWAY: it must be ignored, and it is. Then any connection error.
            await client.SendGetAsync(3);
            await client.SendRawAsync(Frame(Http2FrameType.Ping, Http2FrameFlags.None, 1, new byte[8]));
            ReceivedFrame error = await client.ExpectGoAwayAsync(Http2ErrorCode.ProtocolError);

            Assert.True(
                error.LastStreamId <= graceful.LastStreamId,
                $"the second GOAWAY's last-stream-id is {error.LastStreamId}, above the first one's {graceful.LastStreamId}");
        }
        finally
        {
            release.TrySetResult();
        }
    }

    public static TheoryData<string, byte[]> FramesThatAreStreamErrorsOnAnIdleStream => new()
    {
        // PRIORITY on stream 1 depending on stream 1: the frame reader calls it a stream error (§5.3.1).
        { "self-dependent PRIORITY", Frame(Http2FrameType.Priority, Http2FrameFlags.None, 1, [0, 0, 0, 1, 15]) },
        // PRIORITY of the wrong length: a stream FRAME_SIZE_ERROR (§6.3).
        { "PRIORITY of 4 octets", Frame(Http2FrameType.Priority, Http2FrameFlags.None, 1, [0, 0, 0, 0]) },
        // WINDOW_UPDATE of 0 on a stream: a stream error (§6.9) — but on an idle stream it is a connection error (§5.1).
        { "WINDOW_UPDATE of 0", Frame(Http2FrameType.WindowUpdate, Http2FrameFlags.None, 1, [0, 0, 0, 0]) },
    };

    /// <summary>
    /// RFC 9113 §6.4: "RST_STREAM frames MUST NOT be sent for a stream in the 'idle' state." A frame the reader
    /// classes as a stream error, on a stream the client has not opened, is answered with RST_STREAM on that idle
    /// stream; and when the client then opens the stream, the server serves it: HEADERS on a stream it reset.
    /// </summary>
    [Theory]
    [MemberData(nameof(FramesThatAreStreamErrorsOnAnIdleStream))]
    public async Task AStreamErrorOnAnIdleStreamDoesNotResetIt(string what, byte[] frame)
    {
        await using var client = await Http2TestClient.ConnectAsync(context => context.Response.WriteAsync("hello"));
        await client.SendRawAsync(frame);
        await client.SendGetAsync(1);
        await client.SendPingAsync(42);

        // Everything up to the PING's ack and the end of stream 1 (or the connection's close).
        var received = new List<ReceivedFrame>();
        bool acked = false;
        bool ended = false;
        while (!(acked && ended) && await client.TryReadFrameAsync() is { } next)
        {
            received.Add(next);
            acked |= next.Type == Http2FrameType.Ping && next.IsAck;
            ended |= next.StreamId == 1 && next.EndStream;
        }

        ReceivedFrame? reset = received.FirstOrDefault(f => f.Type == Http2FrameType.RstStream && f.StreamId == 1);
        int resetAt = reset is null ? -1 : received.IndexOf(reset);
        int responseAt = received.FindIndex(f => f.Type == Http2FrameType.Headers && f.StreamId == 1);
        Assert.True(
            reset is null || (responseAt >= 0 && responseAt < resetAt),
            $"after a {what} on idle stream 1 the server sent: {string.Join("; ", received)}");
    }
}
