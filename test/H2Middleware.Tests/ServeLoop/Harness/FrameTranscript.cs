using H2Middleware.Frames;

namespace H2Middleware.Tests.ServeLoop.Harness;

/// <summary>A frame of a <see cref="FrameTranscript"/>: a header block's first frame carries the block's decoded fields.</summary>
internal sealed record TranscriptEntry(ReceivedFrame Frame, List<KeyValuePair<string, string>>? Fields);

/// <summary>
/// Every frame the server sends until some streams end, with each header block (HEADERS or PUSH_PROMISE and its
/// CONTINUATION frames) decoded in the order it arrived, as a client's HPACK decoder must: for tests that watch
/// several streams at once, pushed ones included.
/// </summary>
internal sealed class FrameTranscript
{
    private FrameTranscript(List<TranscriptEntry> entries) => Entries = entries;

    public List<TranscriptEntry> Entries { get; }

    /// <summary>Reads until every stream named has ended (END_STREAM or RST_STREAM).</summary>
    public static Task<FrameTranscript> ReadAsync(Http2TestClient client, params int[] streamIds)
    {
        var ended = new HashSet<int>();
        return ReadAsync(client, entry =>
        {
            if (entry.Frame.EndStream || entry.Frame.Type == Http2FrameType.RstStream)
            {
                ended.Add(entry.Frame.StreamId);
            }

            return streamIds.All(ended.Contains);
        });
    }

    /// <summary>Reads until <paramref name="done"/>, shown each entry as it arrives, says so.</summary>
    public static async Task<FrameTranscript> ReadAsync(Http2TestClient client, Func<TranscriptEntry, bool> done)
    {
        var entries = new List<TranscriptEntry>();
        while (entries.Count == 0 || !done(entries[^1]))
        {
            ReceivedFrame frame = await client.ReadFrameAsync();
            List<KeyValuePair<string, string>>? fields = null;
            if (frame.Type is Http2FrameType.Headers or Http2FrameType.PushPromise)
            {
                byte[] block = frame.Payload;
                ReceivedFrame last = frame;
                while (!last.EndHeaders)
                {
                    last = await client.ReadFrameAsync();
                    Assert.True(last.Type == Http2FrameType.Continuation && last.StreamId == frame.StreamId, $"expected CONTINUATION, received {last}");
                    block = [.. block, .. last.Payload];
                }

                fields = client.DecodeHeaders(frame with { Payload = block });
            }

            entries.Add(new TranscriptEntry(frame, fields));
        }

        return new FrameTranscript(entries);
    }

    public IEnumerable<TranscriptEntry> On(int streamId) => Entries.Where(e => e.Frame.StreamId == streamId);

    public IEnumerable<TranscriptEntry> PushPromises => Entries.Where(e => e.Frame.Type == Http2FrameType.PushPromise);

    /// <summary>Where the first frame that matches is, or -1.</summary>
    public int IndexOf(Func<ReceivedFrame, bool> match) => Entries.FindIndex(e => match(e.Frame));

    /// <summary>The response on a stream: its header fields and its body.</summary>
    public TestResponse Response(int streamId)
    {
        List<TranscriptEntry> frames = On(streamId).ToList();
        List<KeyValuePair<string, string>> headers = frames.First(e => e.Frame.Type == Http2FrameType.Headers).Fields!;
        byte[] body = frames.Where(e => e.Frame.Type == Http2FrameType.Data).SelectMany(e => e.Frame.Payload).ToArray();
        return new TestResponse(headers, body, null);
    }
}
