using System.Buffers;
using System.IO.Pipelines;
using H2Middleware.Frames;
using H2Middleware.Tests.ServeLoop.Harness;
using Microsoft.AspNetCore.Http;

namespace H2Middleware.Tests.ServeLoop;

/// <summary>
/// The request windows come back for bytes the handler has examined, not only consumed (a reader may wait for a whole
/// message), and the per-stream buffer limit, not the window, bounds what a stream holds unconsumed.
/// </summary>
public class RequestWindowTests
{
    private const int MinimumWindow = 65_535;

    /// <summary>Examines everything, consumes nothing, until <paramref name="target"/> bytes have arrived; answers with their count.</summary>
    private static RequestDelegate ExamineUntil(long target) => async context =>
    {
        PipeReader reader = context.Request.BodyReader;
        while (true)
        {
            ReadResult result = await reader.ReadAsync();
            if (result.Buffer.Length >= target || result.IsCompleted)
            {
                long length = result.Buffer.Length;
                reader.AdvanceTo(result.Buffer.End);
                await context.Response.WriteAsync(length.ToString());
                return;
            }

            reader.AdvanceTo(result.Buffer.Start, result.Buffer.End);
        }
    };

    [Fact]
    public async Task ExaminedBytesGetTheirWindowBack()
    {
        await using var client = await Http2TestClient.ConnectAsync(ExamineUntil(300_000), o => o.InitialStreamWindowSize = MinimumWindow);
        await client.SendPostAsync(1);

        long sent = await SendWithinWindowsAsync(client, 1, 300_000, MinimumWindow);

        Assert.Equal(300_000, sent);
        Assert.Equal("300000", (await client.ReadResponseAsync(1)).BodyText);
    }

    [Fact]
    public async Task PastTheBufferLimitOnlyConsumedBytesGetWindowBack()
    {
        const int bufferLimit = 100_000;
        await using var client = await Http2TestClient.ConnectAsync(
            ExamineUntil(long.MaxValue),
            o =>
            {
                o.InitialStreamWindowSize = MinimumWindow;
                o.MaxRequestBufferSizePerStream = bufferLimit;
            });
        await client.SendPostAsync(1);

        long sent = await SendWithinWindowsAsync(client, 1, 10_000_000, MinimumWindow);

        Assert.InRange(sent, bufferLimit, bufferLimit + MinimumWindow);
        await client.SendRstStreamAsync(1, Http2ErrorCode.Cancel);
    }

    /// <summary>
    /// Sends up to <paramref name="total"/> body bytes as the windows allow, reading WINDOW_UPDATEs when they run out;
    /// stops when no window comes back for a second. Returns how many bytes were sent.
    /// </summary>
    private static async Task<long> SendWithinWindowsAsync(Http2TestClient client, int streamId, long total, long streamWindow)
    {
        long connectionWindow = MinimumWindow + (new Http2ServeLoopOptions().InitialConnectionWindowSize - MinimumWindow);
        long sent = 0;
        byte[] chunk = new byte[16_384];
        while (sent < total)
        {
            long allowed = Math.Min(Math.Min(streamWindow, connectionWindow), Math.Min(chunk.Length, total - sent));
            if (allowed > 0)
            {
                await client.SendDataAsync(streamId, chunk.AsSpan(0, (int)allowed).ToArray(), endStream: sent + allowed == total);
                sent += allowed;
                streamWindow -= allowed;
                connectionWindow -= allowed;
                continue;
            }

            ReceivedFrame frame;
            try
            {
                frame = await client.ReadFrameAsync(TimeSpan.FromSeconds(1));
            }
            catch (TimeoutException)
            {
                return sent;
            }

            if (frame.Type == Http2FrameType.WindowUpdate)
            {
                if (frame.StreamId == 0)
                {
                    connectionWindow += frame.WindowSizeIncrement;
                }
                else if (frame.StreamId == streamId)
                {
                    streamWindow += frame.WindowSizeIncrement;
                }
            }
        }

        return sent;
    }
}
