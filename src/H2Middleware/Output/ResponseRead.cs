using System.IO.Pipelines;
using H2Middleware.Protocol;

namespace H2Middleware.Output;

/// <summary>How the write side reads a stream's response pipe.</summary>
internal static class ResponseRead
{
    /// <summary>
    /// Reads the response pipe. A pipe that completed because the handler reset the stream (the reset is published
    /// before the completion) is reported as that reset, and nothing is read: a failed response never ends with END_STREAM.
    /// </summary>
    public static bool TryRead(StreamEntry stream, IStreamOutputEvents events, out ReadResult result)
    {
        PipeReader body = stream.Stream.ResponseBodyReader;
        if (!body.TryRead(out result))
        {
            return false;
        }

        if (result.IsCompleted && stream.Stream.TryGetRequestedReset(out Frames.Http2ErrorCode errorCode))
        {
            body.AdvanceTo(result.Buffer.End);
            events.OnApplicationReset(stream, errorCode);
            return false;
        }

        return true;
    }
}
