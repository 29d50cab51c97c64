using H2Middleware.ServeLoop;
using H2Middleware.Streams;

namespace H2Middleware.Hosting;

/// <summary>The host's application, seen without its context type: makes streams for it and runs their requests through it.</summary>
internal abstract class StreamApplication
{
    /// <summary>A new stream object for the connection's pool; typed so that the host can keep its context on it.</summary>
    public abstract Http2Stream CreateStream(ConnectionPort port);

    /// <summary>Runs on the thread pool, never on the serve loop; completes when the stream's application work is over.</summary>
    public abstract Task RunAsync(Http2Stream stream);
}
