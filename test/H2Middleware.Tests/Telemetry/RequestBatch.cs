using System.Buffers;
using H2Middleware.Frames;
using H2Middleware.Tests.ServeLoop.Harness;

namespace H2Middleware.Tests.Telemetry;

/// <summary>
/// Runs GET requests over one test connection in pipelined batches, with the least client-side work per request: the
/// header block is HPACK literals without indexing, encoded once, so every request's bytes are alike and what is
/// allocated per request is the server's work plus a fixed share of the client's.
/// </summary>
internal sealed class RequestBatch(Http2TestClient client, int batchSize)
{
    private readonly byte[] _headerBlock = Http2TestClient.RawHeaderBlock(Http2TestClient.RequestHeaders("GET", "/"));
    private readonly ArrayBufferWriter<byte> _frames = new(batchSize * 64);
    private int _nextStreamId = 1;

    /// <summary>Opens the connection's receive window as far as it goes, so that no run ever waits for flow control.</summary>
    public Task OpenWindowAsync() => client.SendWindowUpdateAsync(0, int.MaxValue - Http2Limits.DefaultInitialWindowSize);

    /// <summary>Sends <paramref name="requests"/> requests, <c>batchSize</c> at a time, and reads every response to its end.</summary>
    public async Task RunAsync(int requests)
    {
        for (int sent = 0; sent < requests; sent += batchSize)
        {
            _frames.ResetWrittenCount();
            for (int i = 0; i < batchSize; i++)
            {
                Http2FrameWriter.WriteHeaders(_frames, _nextStreamId, _headerBlock, endStream: true, Http2Limits.DefaultMaxFrameSize);
                _nextStreamId += 2;
            }

            await client.SendRawAsync(_frames.WrittenSpan.ToArray());
            for (int ended = 0; ended < batchSize;)
            {
                ReceivedFrame frame = await client.ReadFrameAsync();
                ended += frame.EndStream ? 1 : 0;
            }
        }
    }

    /// <summary>Bytes allocated by the whole process per request over a run, every thread counted.</summary>
    public async Task<double> MeasureBytesPerRequestAsync(int requests)
    {
        long before = GC.GetTotalAllocatedBytes(precise: true);
        await RunAsync(requests);
        return (double)(GC.GetTotalAllocatedBytes(precise: true) - before) / requests;
    }
}
