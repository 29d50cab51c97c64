using System.Collections.Concurrent;
using H2Middleware.Frames;
using H2Middleware.Scheduling;
using H2Middleware.Tests.ServeLoop.Harness;
using Microsoft.AspNetCore.Http;

namespace H2Middleware.Tests.Scheduling;

/// <summary>
/// The RFC 9218 scheduler behind the real serve loop: two responses wait on an exhausted connection window, and the
/// more urgent one takes the whole window update before the other sends a byte.
/// </summary>
public class Rfc9218EndToEndTests
{
    /// <summary>More than one 64 KiB turn, so that a scheduler that takes turns would interleave the two responses.</summary>
    private const int CompetingBodySize = 100_000;

    [Fact]
    public async Task TheMoreUrgentResponseFinishesBeforeTheLessUrgentOneSendsAnyMore()
    {
        await using var race = await CompetingResponses.StartAsync();

        await race.RequestAsync(3, "u=7");
        await race.RequestAsync(5, "u=0");

        Assert.Equal([5, 3], await race.ReleaseWindowAndReadDataOrderAsync());
    }

    [Fact]
    public async Task PriorityUpdateChangesWhichResponseGoesFirst()
    {
        await using var race = await CompetingResponses.StartAsync();

        await race.RequestAsync(3, "u=0");
        await race.RequestAsync(5, "u=3");
        await race.Client.SendPriorityUpdateAsync(3, "u=7");

        Assert.Equal([5, 3], await race.ReleaseWindowAndReadDataOrderAsync());
    }

    /// <summary>
    /// A connection whose window has been spent by a first response, so that each later response sends its HEADERS
    /// and then waits, body written in full, until <see cref="ReleaseWindowAndReadDataOrderAsync"/> opens the window.
    /// </summary>
    private sealed class CompetingResponses : IAsyncDisposable
    {
        private readonly ConcurrentDictionary<string, TaskCompletionSource> _bodiesWritten = new();
        private readonly List<int> _streams = [];

        private CompetingResponses()
        {
        }

        public Http2TestClient Client { get; private set; } = null!;

        public static async Task<CompetingResponses> StartAsync()
        {
            var race = new CompetingResponses();
            race.Client = Http2TestClient.Start(race.HandleAsync, o =>
            {
                o.WriteSchedulerFactory = WriteSchedulers.Rfc9218;
                o.MaxResponseBufferSizePerStream = 2 * CompetingBodySize;
            });

            // Stream windows far larger than the bodies: only the connection window holds them back.
            await race.Client.HandshakeAsync(new Http2Setting(Http2SettingsParameter.InitialWindowSize, 1 << 20));
            await race.Client.SendGetAsync(1, "/fill-window");
            TestResponse filler = await race.Client.ReadResponseAsync(1);
            Assert.Equal(Http2Limits.DefaultInitialWindowSize, filler.Body.Length);
            return race;
        }

        /// <summary>Sends the request and returns once its handler has written and completed the whole body.</summary>
        public async Task RequestAsync(int streamId, string priority)
        {
            string path = $"/stream-{streamId}";
            var bodyWritten = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            _bodiesWritten[path] = bodyWritten;
            _streams.Add(streamId);
            await Client.SendGetAsync(streamId, path, true, ("priority", priority));
            await bodyWritten.Task.WaitAsync(Http2TestClient.DefaultTimeout);
        }

        /// <summary>Opens the connection window for all the bodies; returns the streams in the order their DATA arrived, each once.</summary>
        public async Task<List<int>> ReleaseWindowAndReadDataOrderAsync()
        {
            // A PING answered means the serve loop has seen every body written before it: both streams wait for window.
            await Client.SendPingAsync(7);
            while (await Client.ReadFrameAsync() is not { Type: Http2FrameType.Ping, IsAck: true })
            {
            }

            await Client.SendWindowUpdateAsync(0, _streams.Count * CompetingBodySize);
            var order = new List<int>();
            var ended = new HashSet<int>();
            while (ended.Count < _streams.Count)
            {
                ReceivedFrame frame = await Client.ReadFrameAsync();
                if (frame.Type != Http2FrameType.Data)
                {
                    continue;
                }

                if (order.Count == 0 || order[^1] != frame.StreamId)
                {
                    order.Add(frame.StreamId);
                }

                if (frame.EndStream)
                {
                    ended.Add(frame.StreamId);
                }
            }

            return order;
        }

        public ValueTask DisposeAsync() => Client.DisposeAsync();

        private async Task HandleAsync(HttpContext context)
        {
            if (context.Request.Path == "/fill-window")
            {
                await context.Response.Body.WriteAsync(new byte[Http2Limits.DefaultInitialWindowSize]);
                return;
            }

            // Pieces below the direct-write size go into the response pipe, so the writes complete without the client.
            var piece = new byte[10_000];
            for (int sent = 0; sent < CompetingBodySize; sent += piece.Length)
            {
                await context.Response.Body.WriteAsync(piece);
            }

            await context.Response.CompleteAsync();
            _bodiesWritten[context.Request.Path.Value!].SetResult();
        }
    }
}
