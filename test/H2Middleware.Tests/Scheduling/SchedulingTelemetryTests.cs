using H2Middleware.Frames;
using H2Middleware.Scheduling;
using H2Middleware.Tests.ServeLoop.Harness;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Time.Testing;

namespace H2Middleware.Tests.Scheduling;

/// <summary>
/// Per-stream scheduling telemetry as the handler reads it, on a fake clock: the time a response waited for its own
/// window, for the connection's, and the bytes it sent.
/// </summary>
public class SchedulingTelemetryTests
{
    private const int BodySize = 3_000;

    /// <summary>A handler that sends a body, then waits for the test before it reads its stream's telemetry.</summary>
    private sealed class TelemetryProbe
    {
        public TaskCompletionSource ClientDone { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public TaskCompletionSource<(TimeSpan Queued, TimeSpan StreamBlocked, TimeSpan ConnectionBlocked, long Bytes)> Read { get; } =
            new(TaskCreationOptions.RunContinuationsAsynchronously);

        public async Task HandleAsync(HttpContext context)
        {
            int size = context.Request.Path == "/fill" ? Http2Limits.DefaultInitialWindowSize : BodySize;
            await context.Response.Body.WriteAsync(new byte[size]);
            await context.Response.CompleteAsync();
            if (context.Request.Path == "/fill")
            {
                return;
            }

            await ClientDone.Task;
            var telemetry = context.Features.Get<IHttp2StreamSchedulingFeature>()!;
            Read.SetResult((telemetry.QueuedTime, telemetry.StreamWindowBlockedTime, telemetry.ConnectionWindowBlockedTime, telemetry.BytesSent));
        }
    }

    private static Http2TestClient Start(TelemetryProbe probe, FakeTimeProvider time) =>
        Http2TestClient.Start(probe.HandleAsync, o =>
        {
            o.TimeProvider = time;
            o.MinResponseDataRate = null;
        });

    private static async Task PingRoundTripAsync(Http2TestClient client)
    {
        await client.SendPingAsync(9);
        while (await client.ReadFrameAsync() is not { Type: Http2FrameType.Ping, IsAck: true })
        {
        }
    }

    private static async Task<long> ReadDataUntilEndAsync(Http2TestClient client, int streamId)
    {
        long bytes = 0;
        while (true)
        {
            ReceivedFrame frame = await client.ReadFrameAsync();
            if (frame.StreamId == streamId && frame.Type == Http2FrameType.Data)
            {
                bytes += frame.Payload.Length;
            }

            if (frame.StreamId == streamId && frame.EndStream)
            {
                return bytes;
            }
        }
    }

    [Fact]
    public async Task TimeWaitingForTheStreamWindowIsCounted()
    {
        var time = new FakeTimeProvider();
        var probe = new TelemetryProbe();
        await using var client = Start(probe, time);
        await client.HandshakeAsync(new Http2Setting(Http2SettingsParameter.InitialWindowSize, 1_000));

        await client.SendGetAsync(1);
        await client.ExpectAsync(Http2FrameType.Headers, 1);
        await client.ExpectAsync(Http2FrameType.Data, 1);
        await PingRoundTripAsync(client);
        time.Advance(TimeSpan.FromSeconds(5));
        await client.SendWindowUpdateAsync(1, 10_000);
        await ReadDataUntilEndAsync(client, 1);
        probe.ClientDone.SetResult();

        var (queued, streamBlocked, connectionBlocked, bytes) = await probe.Read.Task.WaitAsync(Http2TestClient.DefaultTimeout);
        Assert.Equal(TimeSpan.FromSeconds(5), streamBlocked);
        Assert.Equal(TimeSpan.Zero, connectionBlocked);
        Assert.Equal(TimeSpan.Zero, queued);
        Assert.Equal(BodySize, bytes);
    }

    [Fact]
    public async Task TimeWaitingForTheConnectionWindowIsCountedApart()
    {
        var time = new FakeTimeProvider();
        var probe = new TelemetryProbe();
        await using var client = Start(probe, time);
        await client.HandshakeAsync(new Http2Setting(Http2SettingsParameter.InitialWindowSize, 1 << 20));
        await client.SendGetAsync(1, "/fill");
        await client.ReadResponseAsync(1);

        await client.SendGetAsync(3);
        await client.ExpectAsync(Http2FrameType.Headers, 3);
        await PingRoundTripAsync(client);
        time.Advance(TimeSpan.FromSeconds(3));
        await client.SendWindowUpdateAsync(0, 10_000);
        Assert.Equal(BodySize, await ReadDataUntilEndAsync(client, 3));
        probe.ClientDone.SetResult();

        var (_, streamBlocked, connectionBlocked, bytes) = await probe.Read.Task.WaitAsync(Http2TestClient.DefaultTimeout);
        Assert.Equal(TimeSpan.FromSeconds(3), connectionBlocked);
        Assert.Equal(TimeSpan.Zero, streamBlocked);
        Assert.Equal(BodySize, bytes);
    }
}
