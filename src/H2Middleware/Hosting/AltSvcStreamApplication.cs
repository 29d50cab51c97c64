using H2Middleware.ServeLoop;
using H2Middleware.Streams;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Net.Http.Headers;

namespace H2Middleware.Hosting;

/// <summary>
/// The host's application with an <c>Alt-Svc</c> header added to each response (see <see cref="AltSvcAdvertisement"/>).
/// As in Kestrel, a header the application set itself is left as it is: the header is added as the response starts,
/// by an OnStarting callback registered before the application runs, so it runs after the application's own.
/// </summary>
internal sealed class AltSvcStreamApplication : StreamApplication
{
    private readonly StreamApplication _inner;
    private readonly string _value;
    private readonly Func<object, Task> _addHeader;

    public AltSvcStreamApplication(StreamApplication inner, int port)
    {
        _inner = inner;
        Port = port;
        _value = AltSvcAdvertisement.Value(port);
        _addHeader = AddHeader;
    }

    public int Port { get; }

    public override Http2Stream CreateStream(ConnectionPort port) => _inner.CreateStream(port);

    public override Task RunAsync(Http2Stream stream)
    {
        // Registering cannot fail here (the response has not started), and the inner runner ends the stream whatever happens.
        ((IHttpResponseFeature)stream).OnStarting(_addHeader, stream);
        return _inner.RunAsync(stream);
    }

    private Task AddHeader(object state)
    {
        var response = (IHttpResponseFeature)state;
        if (!response.Headers.ContainsKey(HeaderNames.AltSvc))
        {
            response.Headers.AltSvc = _value;
        }

        return Task.CompletedTask;
    }
}
