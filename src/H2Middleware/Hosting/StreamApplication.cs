using H2Middleware.Streams;

namespace H2Middleware.Hosting;

/// <summary>The host's application, seen without its context type: runs one stream's request through it.</summary>
internal abstract class StreamApplication
{
    /// <summary>Runs on the thread pool, never on the serve loop; completes when the stream's application work is over.</summary>
    public abstract Task RunAsync(Http2Stream stream);
}
