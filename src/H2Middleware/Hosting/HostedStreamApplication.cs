using System.Diagnostics;
using H2Middleware.ServeLoop;
using H2Middleware.Streams;
using Microsoft.AspNetCore.Hosting.Server;

namespace H2Middleware.Hosting;

/// <summary>
/// Runs a stream through the host's <see cref="IHttpApplication{TContext}"/>, so hosting's logging scopes,
/// Activity tracing, metrics and request services behave exactly as under Kestrel.
/// </summary>
internal sealed class HostedStreamApplication<TContext> : StreamApplication where TContext : notnull
{
    private readonly IHttpApplication<TContext> _application;

    public HostedStreamApplication(IHttpApplication<TContext> application) => _application = application;

    public override Http2Stream CreateStream(ConnectionPort port) => new HostedStream<TContext>(port);

    public override async Task RunAsync(Http2Stream stream)
    {
        try
        {
            TContext context = _application.CreateContext(stream);
            StreamActivityTags.AddTo(Activity.Current, stream);
            Exception? error = null;
            try
            {
                await _application.ProcessRequestAsync(context);
            }
            catch (Exception exception)
            {
                error = exception;
                stream.LogApplicationError(exception);
            }

            await stream.FinishAfterApplicationAsync(error);
            await stream.FireOnCompletedAsync();
            _application.DisposeContext(context, error);
        }
        catch (Exception exception)
        {
            stream.LogApplicationError(exception);
        }
        finally
        {
            stream.Post(ServeLoopMessageKind.StreamApplicationCompleted);
        }
    }
}
