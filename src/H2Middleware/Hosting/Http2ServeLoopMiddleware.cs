using System.Buffers;
using System.IO.Pipelines;
using H2Middleware.Frames;
using H2Middleware.ServeLoop;
using H2Middleware.Telemetry;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Server.Kestrel.Core.Features;
using Microsoft.Extensions.Logging;

namespace H2Middleware.Hosting;

/// <summary>
/// The Kestrel connection middleware: takes each connection of the endpoint, decides whether it is HTTP/2, and
/// either serves it with a <see cref="Http2Connection"/> or hands it, untouched, to Kestrel's own pipeline.
/// </summary>
internal sealed class Http2ServeLoopMiddleware
{
    private readonly ConnectionDelegate _next;
    private readonly Http2ServeLoopOptions _options;
    private readonly StreamApplication _application;
    private readonly bool _endpointAllowsHttp1;
    private readonly AltSvcAdvertisement? _altSvc;
    private readonly ILogger _logger;
    private readonly Http2Metrics _metrics;

    public Http2ServeLoopMiddleware(
        ConnectionDelegate next,
        Http2ServeLoopOptions options,
        StreamApplication application,
        bool endpointAllowsHttp1,
        ILoggerFactory loggerFactory,
        Http2Metrics metrics,
        AltSvcAdvertisement? altSvc = null)
    {
        _next = next;
        _options = options;
        _application = application;
        _endpointAllowsHttp1 = endpointAllowsHttp1;
        _altSvc = altSvc;
        _logger = loggerFactory.CreateLogger(Http2Log.CategoryName);
        _metrics = metrics;
    }

    public async Task OnConnectionAsync(ConnectionContext connection)
    {
        var tls = connection.Features.Get<ITlsApplicationProtocolFeature>();
        if (tls is not null)
        {
            if (!tls.ApplicationProtocol.Span.SequenceEqual("h2"u8))
            {
                Http2Log.PassedToKestrel(_logger, connection.ConnectionId, "ALPN did not select h2");
                await _next(connection);
                return;
            }
        }
        else
        {
            PrefaceCheck check = await PeekClientPrefaceAsync(connection.Transport.Input, _options);
            if (check == PrefaceCheck.ConnectionClosed)
            {
                return;
            }

            if (check == PrefaceCheck.NotHttp2)
            {
                if (_endpointAllowsHttp1)
                {
                    Http2Log.PassedToKestrel(_logger, connection.ConnectionId, "no HTTP/2 connection preface");
                    await _next(connection);
                }
                else
                {
                    await RejectAsync(connection.Transport.Output);
                }

                return;
            }
        }

        KestrelConnectionTags.SetHttp2(connection.Features);
        SocketUnsentBytesLimit.Apply(connection, _options.SocketUnsentBytesLowWatermark);
        StreamApplication application = _altSvc?.Apply(_application, connection.LocalEndPoint) ?? _application;
        var serveLoop = new Http2Connection(connection, _options, application, _logger, _metrics);
        await serveLoop.RunAsync();
    }

    private enum PrefaceCheck
    {
        Http2,
        NotHttp2,
        ConnectionClosed,
    }

    /// <summary>
    /// Reads until the first bytes either match the HTTP/2 preface or cannot. Consumes nothing, so whichever
    /// protocol serves the connection next sees every byte the client sent.
    /// </summary>
    private static async Task<PrefaceCheck> PeekClientPrefaceAsync(PipeReader input, Http2ServeLoopOptions options)
    {
        using var timeout = new CancellationTokenSource(options.PrefaceTimeout, options.TimeProvider);
        while (true)
        {
            ReadResult result;
            try
            {
                result = await input.ReadAsync(timeout.Token);
            }
            catch (OperationCanceledException)
            {
                // Neither a preface nor anything else arrived in time: there is no protocol to answer in.
                return PrefaceCheck.ConnectionClosed;
            }

            ReadOnlySequence<byte> buffer = result.Buffer;
            int length = (int)Math.Min(buffer.Length, Http2Limits.ClientPreface.Length);
            bool matches = StartsLikePreface(buffer.Slice(0, length));
            if (!matches || length == Http2Limits.ClientPreface.Length)
            {
                input.AdvanceTo(buffer.Start);
                return matches ? PrefaceCheck.Http2 : PrefaceCheck.NotHttp2;
            }

            if (result.IsCompleted)
            {
                input.AdvanceTo(buffer.Start);
                return buffer.IsEmpty ? PrefaceCheck.ConnectionClosed : PrefaceCheck.NotHttp2;
            }

            input.AdvanceTo(buffer.Start, buffer.End);
        }
    }

    private static bool StartsLikePreface(in ReadOnlySequence<byte> received)
    {
        Span<byte> bytes = stackalloc byte[Http2Limits.ClientPreface.Length];
        received.CopyTo(bytes);
        return bytes[..(int)received.Length].SequenceEqual(Http2Limits.ClientPreface[..(int)received.Length]);
    }

    /// <summary>An HTTP/2-only cleartext endpoint answers anything else with GOAWAY(PROTOCOL_ERROR) (RFC 9113 §3.4).</summary>
    private static async Task RejectAsync(PipeWriter output)
    {
        Http2FrameWriter.WriteGoAway(output, 0, Http2ErrorCode.ProtocolError, "expected the HTTP/2 connection preface"u8);
        await output.FlushAsync();
    }
}
