using System.Buffers;
using System.Globalization;

namespace PriorityProbe;

/// <summary>
/// Scenario P2: two 100 MiB downloads opened together with RFC 7540 priority fields, both depending on the root, one
/// with weight 256 and one with weight 1. Reports each one's share of the first 32 MiB of DATA: a server that follows
/// the weights gives the heavy one 256/257 of the bytes; one that ignores them shares about evenly. The light stream
/// is opened first, so that a server serving in request order shows it, not the weights.
/// </summary>
internal sealed class WeightedDownloadsScenario : IStreamObserver
{
    private const int LightStreamId = 1;
    private const int HeavyStreamId = 3;
    private const long ObservedBytes = 32 * 1024 * 1024;

    private readonly TaskCompletionSource _observed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private long _lightBytes;
    private long _heavyBytes;

    public async Task<string> RunAsync(int port, long bytesPerSecond)
    {
        using ProbeConnection connection = await ProbeConnection.OpenAsync(port, bytesPerSecond, this);
        var requests = new ArrayBufferWriter<byte>();
        byte[] block = Requests.Get(port, Requests.DownloadPath);
        FrameWriter.WriteHeaders(requests, LightStreamId, block, new StreamDependency(0, Weight: 1, Exclusive: false));
        FrameWriter.WriteHeaders(requests, HeavyStreamId, block, new StreamDependency(0, Weight: 256, Exclusive: false));
        connection.Send(requests.WrittenSpan);

        await connection.WaitAsync(_observed.Task, TimeSpan.FromSeconds(60));
        connection.Abandon(LightStreamId, HeavyStreamId);
        double total = _lightBytes + _heavyBytes;
        return string.Create(
            CultureInfo.InvariantCulture,
            $"p2 port={port} heavy_share={_heavyBytes / total:F4} light_share={_lightBytes / total:F4} observed_bytes={total}");
    }

    public void OnData(int streamId, int length)
    {
        if (_observed.Task.IsCompleted)
        {
            return;
        }

        if (streamId == HeavyStreamId)
        {
            _heavyBytes += length;
        }
        else
        {
            _lightBytes += length;
        }

        if (_lightBytes + _heavyBytes >= ObservedBytes)
        {
            _observed.TrySetResult();
        }
    }

    public void OnEnd(int streamId, long timestamp)
    {
    }
}
