using System.Buffers;
using H2Middleware.Protocol;

namespace H2Middleware.Output;

/// <summary>How the write side reads a stream's response body.</summary>
internal static class ResponseRead
{
    /// <summary>
    /// Reads the response body. A body that completed because the handler reset the stream (the reset is published
    /// before the completion) is reported as that reset, and nothing is read: a failed response never ends with END_STREAM.
    /// </summary>
    public static bool TryRead(StreamEntry stream, IStreamOutputEvents events, out ReadOnlySequence<byte> data, out bool completed)
    {
        if (!stream.Stream.ResponseBody.TryRead(out data, out completed))
        {
            return false;
        }

        if (completed && stream.Stream.TryGetRequestedReset(out Frames.Http2ErrorCode errorCode))
        {
            stream.Stream.ResponseBody.Release(data.Length);
            events.OnApplicationReset(stream, errorCode);
            return false;
        }

        return true;
    }
}
