using H2Middleware.Frames;
using Microsoft.AspNetCore.Http;

namespace H2Middleware.Tests.ServeLoop.Harness;

/// <summary>
/// A request body sent frame by frame within the receive windows the client has been given, to a handler that reads
/// it all (<see cref="Handler"/>): each frame waits until the handler has consumed the previous ones, so every window
/// the server gives back follows from the frames alone. It records what the server sends meanwhile (WINDOW_UPDATEs,
/// the PINGs of adaptive receive windows), answers nothing by itself, and tracks the windows as the client sees them.
/// </summary>
internal sealed class WindowedUpload
{
    public const int FrameSize = 16_384;

    private const ulong SettlePingData = 0x5E77_1E00;

    private long _consumed;

    /// <summary>Reads the body to its end and answers with its length.</summary>
    public RequestDelegate Handler => async context =>
    {
        var buffer = new byte[FrameSize];
        int read;
        while ((read = await context.Request.Body.ReadAsync(buffer)) > 0)
        {
            Interlocked.Add(ref _consumed, read);
        }

        await context.Response.WriteAsync(Interlocked.Read(ref _consumed).ToString());
    };

    public int StreamId { get; private set; }

    public long Sent { get; private set; }

    /// <summary>What the client may still send on the connection and on the stream.</summary>
    public long ConnectionWindow { get; private set; }

    public long StreamWindow { get; private set; }

    /// <summary>The most the client was ever allowed to have in flight beyond what it sent (the announced window).</summary>
    public long LargestConnectionWindow { get; private set; }

    public long LargestStreamWindow { get; private set; }

    public List<(int StreamId, int Increment)> WindowUpdates { get; } = [];

    /// <summary>The PINGs of window samples received so far, oldest first.</summary>
    public List<ulong> SamplePings { get; } = [];

    private Http2TestClient Client { get; set; } = null!;

    /// <summary>Opens the request on stream <paramref name="streamId"/>; the windows are the server's initial ones.</summary>
    public async Task StartAsync(Http2TestClient client, Http2ServeLoopOptions options, int streamId = 1)
    {
        Client = client;
        StreamId = streamId;
        ConnectionWindow = LargestConnectionWindow = options.InitialConnectionWindowSize;
        StreamWindow = LargestStreamWindow = options.InitialStreamWindowSize;
        await client.SendPostAsync(streamId);
    }

    /// <summary>Sends <paramref name="bytes"/> more of the body, reading the server's frames whenever a window is short.</summary>
    public async Task SendAsync(long bytes, bool endStream = false)
    {
        long end = Sent + bytes;
        while (Sent < end)
        {
            int frame = (int)Math.Min(FrameSize, end - Sent);
            if (Math.Min(ConnectionWindow, StreamWindow) < frame)
            {
                Record(await Client.ReadFrameAsync());
                continue;
            }

            await Client.SendDataAsync(StreamId, new byte[frame], endStream: endStream && Sent + frame == end);
            Sent += frame;
            ConnectionWindow -= frame;
            StreamWindow -= frame;
            await WaitUntilConsumedAsync();
        }
    }

    /// <summary>A PING round trip: every frame the server sent before it handled the PING has been read and recorded.</summary>
    public async Task SettleAsync()
    {
        await Client.SendPingAsync(SettlePingData);
        await ExpectPingAsync(SettlePingData, ack: true);
    }

    /// <summary>Reads and records the server's frames until a PING (or PING ack) with this data arrives.</summary>
    public async Task ExpectPingAsync(ulong data, bool ack = false)
    {
        while (true)
        {
            ReceivedFrame frame = await Client.ReadFrameAsync();
            if (frame.Type == Http2FrameType.Ping && frame.IsAck == ack && frame.PingData == data)
            {
                return;
            }

            Record(frame);
        }
    }

    /// <summary>Sends the ack of the latest window sample's PING.</summary>
    public Task AcknowledgeSampleAsync() => Client.SendPingAsync(SamplePings[^1], ack: true);

    private async Task WaitUntilConsumedAsync()
    {
        using var timeout = new CancellationTokenSource(Http2TestClient.DefaultTimeout);
        while (Interlocked.Read(ref _consumed) < Sent)
        {
            await Task.Delay(1, timeout.Token);
        }
    }

    private void Record(ReceivedFrame frame)
    {
        if (Http2TestClient.IsWindowSamplePing(frame))
        {
            SamplePings.Add(frame.PingData);
            return;
        }

        if (frame.Type != Http2FrameType.WindowUpdate)
        {
            return;
        }

        WindowUpdates.Add((frame.StreamId, frame.WindowSizeIncrement));
        if (frame.StreamId == 0)
        {
            ConnectionWindow += frame.WindowSizeIncrement;
            LargestConnectionWindow = Math.Max(LargestConnectionWindow, ConnectionWindow);
        }
        else if (frame.StreamId == StreamId)
        {
            StreamWindow += frame.WindowSizeIncrement;
            LargestStreamWindow = Math.Max(LargestStreamWindow, StreamWindow);
        }
    }
}
