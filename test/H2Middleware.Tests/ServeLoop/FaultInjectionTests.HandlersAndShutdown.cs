using System.Buffers;
using System.Text;
using H2Middleware.Frames;
using H2Middleware.Tests.ServeLoop.Harness;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;

namespace H2Middleware.Tests.ServeLoop;

/// <summary>Handlers throwing at every stage, and the client vanishing during a graceful shutdown.</summary>
public partial class FaultInjectionTests
{
    // ---- Handlers throwing at every stage ----

    public enum Stage
    {
        BeforeReadingBody,
        MidBodyRead,
        AfterStartingResponse,
        MidResponseWrite,
        InOnStarting,
        InOnStartingWhenTheHandlerReturns,
        InOnCompleted,
        AfterCompletingResponse,
    }

    [Theory]
    [InlineData(Stage.BeforeReadingBody)]
    [InlineData(Stage.MidBodyRead)]
    [InlineData(Stage.AfterStartingResponse)]
    [InlineData(Stage.MidResponseWrite)]
    [InlineData(Stage.InOnStarting)]
    [InlineData(Stage.InOnStartingWhenTheHandlerReturns)]
    [InlineData(Stage.InOnCompleted)]
    [InlineData(Stage.AfterCompletingResponse)]
    public async Task AHandlerThrowing(Stage stage)
    {
        await using Rig rig = await Rig.ConnectAsync(async (context, request) =>
        {
            if (context.Request.Path.StartsWithSegments("/ok"))
            {
                await WriteInPiecesAsync(context, "ok", 3);
                return;
            }

            await FailAtAsync(stage, context);
        });
        Http2TestClient client = rig.Client;
        await client.SendWindowUpdateAsync(0, 1 << 30);

        // Each round runs a failing request beside a good one; later rounds reuse the pooled stream objects.
        const int Rounds = 4;
        for (int round = 0, id = 1; round < Rounds; round++, id += 4)
        {
            int failing = id;
            int good = id + 2;
            await client.SendPostAsync(failing, $"/fail/{round}");
            await client.SendDataAsync(failing, "part1", endStream: false);
            await client.SendGetAsync(good, $"/ok/{round}");
            await client.SendDataAsync(failing, "part2", endStream: true);

            Dictionary<int, Outcome> outcomes = await ReadOutcomesAsync(client, failing, good);

            AssertFailedAsExpected(stage, outcomes[failing], round);
            Assert.Equal("200", outcomes[good].Status);
            Assert.True(outcomes[good].EndStream, $"round {round}: the good request beside the failing one did not complete");
            Assert.Equal("okokok", outcomes[good].BodyText);
            HandlerProbe.Request failed = rig.Probe[$"/fail/{round}"];
            await HandlerProbe.Within(failed.Released.Task, $"round {round}: the failing handler releasing its stream");
            if (outcomes[failing].Reset is not null && failed.Started.Task.IsCompleted)
            {
                // The stream could not complete; the handler must learn of it (it may have returned already, as here).
                await HandlerProbe.Within(failed.Aborted.Task, $"round {round}: RequestAborted of the reset stream");
            }
        }

        await client.CloseSendingAsync();
        await rig.AssertConnectionEndedAsync(Promptly);
        rig.AssertNoLeftovers(allowApplicationErrors: true);
    }

    private static async Task FailAtAsync(Stage stage, HttpContext context)
    {
        var failure = new InvalidOperationException($"injected failure: {stage}");
        switch (stage)
        {
            case Stage.BeforeReadingBody:
                throw failure;
            case Stage.MidBodyRead:
                Assert.True(await context.Request.Body.ReadAsync(new byte[3]) > 0);
                throw failure;
            case Stage.AfterStartingResponse:
                await context.Response.StartAsync();
                throw failure;
            case Stage.MidResponseWrite:
                await context.Response.WriteAsync("partial");
                await context.Response.Body.FlushAsync();
                throw failure;
            case Stage.InOnStarting:
                context.Response.OnStarting(() => throw failure);
                await context.Response.WriteAsync("never sent");
                return;
            case Stage.InOnStartingWhenTheHandlerReturns:
                context.Response.OnStarting(() => throw failure);
                return;
            case Stage.InOnCompleted:
                context.Response.OnCompleted(() => throw failure);
                await context.Response.WriteAsync("done");
                return;
            case Stage.AfterCompletingResponse:
                await context.Response.WriteAsync("done");
                await context.Response.CompleteAsync();
                throw failure;
        }
    }

    private static void AssertFailedAsExpected(Stage stage, Outcome outcome, int round)
    {
        string seen = $"round {round}: status {outcome.Status ?? "none"}, END_STREAM {outcome.EndStream}, reset {outcome.Reset?.ToString() ?? "none"}, body '{outcome.BodyText}'";
        switch (stage)
        {
            case Stage.BeforeReadingBody or Stage.MidBodyRead or Stage.InOnStarting or Stage.InOnStartingWhenTheHandlerReturns:
                // Nothing was sent yet: the failure becomes a 500 with no body (as Kestrel answers).
                Assert.True(outcome.Status == "500" && outcome.EndStream && outcome.Body.Length == 0, seen);
                break;
            case Stage.AfterStartingResponse or Stage.MidResponseWrite:
                // The response started (its HEADERS may or may not have left before the failure): it must end with a reset, never look complete.
                Assert.True((outcome.Status is null or "200") && !outcome.EndStream && outcome.Reset == Http2ErrorCode.InternalError, seen);
                break;
            default:
                // The response was complete before the failure: the client gets all of it.
                Assert.True(outcome.Status == "200" && outcome.EndStream && outcome.BodyText == "done", seen);
                break;
        }
    }

    /// <summary>A handler that keeps its context after the client reset its stream never sees another request through it.</summary>
    [Fact]
    public async Task AHandlerThatKeepsItsContextAfterAnAbortNeverSeesAnotherRequest()
    {
        HandlerProbe? probe = null;
        await using Rig rig = await Rig.ConnectAsync(async (context, request) =>
        {
            string path = context.Request.Path.Value!;
            if (path.StartsWith("/ok", StringComparison.Ordinal))
            {
                await context.Response.WriteAsync(path);
                return;
            }

            await context.Response.StartAsync();
            request.Reached.TrySetResult(null);
            await WaitForAbortAsync(context);
            // Still holding the context while the connection serves (and recycles streams for) other requests.
            await probe!.LingerAsync(context, path, TimeSpan.FromMilliseconds(300));
        });
        probe = rig.Probe;
        Http2TestClient client = rig.Client;
        await client.SendGetAsync(1, "/linger-1");
        await client.SendGetAsync(3, "/linger-2");
        await HandlerProbe.Within(rig.Probe["/linger-1"].Reached.Task, "the first handler starting");
        await HandlerProbe.Within(rig.Probe["/linger-2"].Reached.Task, "the second handler starting");
        await client.SendRstStreamAsync(1, Http2ErrorCode.Cancel);
        await client.SendRstStreamAsync(3, Http2ErrorCode.Cancel);
        await rig.Probe.AssertAbortedAsync("/linger-1", "/linger-2");

        for (int i = 0, id = 5; i < 20; i++, id += 2)
        {
            await client.SendGetAsync(id, $"/ok-{i}");
            Assert.Equal($"/ok-{i}", (await ReadOutcomesAsync(client, id))[id].BodyText);
        }

        await client.CloseSendingAsync();
        await rig.AssertConnectionEndedAsync(Promptly);
        rig.AssertNoLeftovers();
    }

    // ---- The client vanishing during a graceful shutdown ----

    public enum ShutdownPhase
    {
        /// <summary>After the first GOAWAY and the PING, before the client acknowledges the PING.</summary>
        BeforeThePingAck,

        /// <summary>After the final GOAWAY, while the streams it names are still being served.</summary>
        AfterTheFinalGoAway,
    }

    [Theory]
    [InlineData(Vanish.ReadThrows, ShutdownPhase.BeforeThePingAck)]
    [InlineData(Vanish.ReadThrows, ShutdownPhase.AfterTheFinalGoAway)]
    [InlineData(Vanish.ReadEnds, ShutdownPhase.BeforeThePingAck)]
    [InlineData(Vanish.ReadEnds, ShutdownPhase.AfterTheFinalGoAway)]
    [InlineData(Vanish.WriteThrows, ShutdownPhase.BeforeThePingAck)]
    [InlineData(Vanish.WriteThrows, ShutdownPhase.AfterTheFinalGoAway)]
    [InlineData(Vanish.WriteEnds, ShutdownPhase.BeforeThePingAck)]
    [InlineData(Vanish.WriteEnds, ShutdownPhase.AfterTheFinalGoAway)]
    [InlineData(Vanish.ConnectionAborted, ShutdownPhase.BeforeThePingAck)]
    [InlineData(Vanish.ConnectionAborted, ShutdownPhase.AfterTheFinalGoAway)]
    public async Task TheClientVanishingDuringAGracefulShutdown(Vanish how, ShutdownPhase phase)
    {
        await using Rig rig = await Rig.ConnectAsync(StreamUntilAbortedAsync);
        Http2TestClient client = rig.Client;
        await client.SendWindowUpdateAsync(0, 1 << 30);
        foreach (int id in new[] { 1, 3, 5 })
        {
            await client.SendGetAsync(id, $"/s{id}");
            await client.SendWindowUpdateAsync(id, 1 << 30);
            await HandlerProbe.Within(rig.Probe[$"/s{id}"].Reached.Task, $"/s{id} streaming");
        }

        client.Connection.RequestClose();
        ReceivedFrame first = await ReadUntilAsync(client, f => f.Type == Http2FrameType.GoAway);
        Assert.Equal((Http2ErrorCode.NoError, Http2Limits.MaxStreamId), (first.ErrorCode, first.LastStreamId));
        ReceivedFrame ping = await ReadUntilAsync(client, f => f.Type == Http2FrameType.Ping && !f.IsAck);
        if (phase == ShutdownPhase.AfterTheFinalGoAway)
        {
            await client.SendPingAsync(ping.PingData, ack: true);
            ReceivedFrame final = await ReadUntilAsync(client, f => f.Type == Http2FrameType.GoAway);
            Assert.Equal(5, final.LastStreamId);
            await ReadDataAsync(client, 2048);
        }

        await rig.Transport.Reader.WaitForConsumedAsync(client.BytesSent);
        await rig.InjectAsync(how);

        await rig.AssertConnectionEndedAsync(Promptly);
        await rig.Probe.AssertAbortedAsync("/s1", "/s3", "/s5");
        rig.AssertNoLeftovers();
    }

    /// <summary>A client that silently stops reading and sending mid-shutdown: the shutdown timeout, then the close timeout, cut it off.</summary>
    [Fact]
    public async Task AClientThatGoesSilentDuringAGracefulShutdownIsCutOff()
    {
        var clock = new FakeTimeProvider();
        await using Rig rig = await Rig.ConnectAsync(
            StreamUntilAbortedAsync,
            o => o.ShutdownTimeout = TimeSpan.FromSeconds(3),
            clientReceiveBuffer: 16 * 1024,
            clock: clock);
        Http2TestClient client = rig.Client;
        await client.SendWindowUpdateAsync(0, 1 << 30);
        foreach (int id in new[] { 1, 3 })
        {
            await client.SendGetAsync(id, $"/s{id}");
            await client.SendWindowUpdateAsync(id, 1 << 30);
        }

        await rig.Transport.Writer.WaitForPendingFlushAsync();
        client.Connection.RequestClose();

        await PumpClockUntilAsync(clock, client.ServerTask, TimeSpan.FromSeconds(40));

        await rig.AssertConnectionEndedAsync(Promptly);
        await rig.Probe.AssertAbortedAsync("/s1", "/s3");
        Assert.True(client.Connection.ConnectionClosed.IsCancellationRequested, "the transport of a client that does not read was not aborted");
        rig.AssertNoLeftovers();
    }
}
