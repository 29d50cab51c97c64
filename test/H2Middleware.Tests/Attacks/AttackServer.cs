using H2Middleware.Frames;
using H2Middleware.Tests.EndToEnd;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using MinDataRate = Microsoft.AspNetCore.Server.Kestrel.Core.MinDataRate;

namespace H2Middleware.Tests.Attacks;

/// <summary>The attack tests run one at a time: each measures a probe's latency and the process's memory.</summary>
[CollectionDefinition("Attacks", DisableParallelization = true)]
public sealed class AttackCollection : ICollectionFixture<AttackServer>
{
}

/// <summary>
/// One Kestrel server with our engine on 127.0.0.1, shared by every attack test (so it is warm), with the handlers the
/// attacks aim at:
/// <list type="bullet">
/// <item><c>/probe</c>: "ok" at once, for the well-behaved probe;</item>
/// <item><c>/slow</c>: a handler that takes a second and ignores RequestAborted;</item>
/// <item><c>/cancellable</c>: a handler that takes a second unless the request is aborted;</item>
/// <item><c>/hold</c>: reads nothing, writes nothing, returns when the request is aborted;</item>
/// <item><c>/echo</c>: reads the whole request body and answers with its length;</item>
/// <item><c>/big</c>: a 1 MiB response written in one call (from a shared buffer, so only the engine's memory grows).</item>
/// </list>
/// </summary>
public sealed class AttackServer : IAsyncLifetime
{
    public static readonly TimeSpan PrefaceTimeout = TimeSpan.FromSeconds(2);

    public static readonly TimeSpan SettingsAckTimeout = TimeSpan.FromSeconds(3);

    /// <summary>The timeouts and data rates of defenses the engine does not have yet, set when it has the option.</summary>
    public static readonly TimeSpan RequestHeadersTimeout = TimeSpan.FromSeconds(2);

    public const double MinDataRateBytesPerSecond = 240;

    public static readonly TimeSpan MinDataRateGracePeriod = TimeSpan.FromSeconds(2);

    private static readonly byte[] BigBody = new byte[1024 * 1024];

    private KestrelTestHost? _host;

    internal KestrelTestHost Host => _host ?? throw new InvalidOperationException("not started");

    public int Port => Host.Port;

    public async Task InitializeAsync()
    {
        _host = await KestrelTestHost.StartAsync(
            app => app.Run(HandleAsync),
            configureEngine: options =>
            {
                options.PrefaceTimeout = PrefaceTimeout;
                options.SettingsAckTimeout = SettingsAckTimeout;
                options.RequestHeadersTimeout = RequestHeadersTimeout;
                options.MinRequestBodyDataRate = new MinDataRate(MinDataRateBytesPerSecond, MinDataRateGracePeriod);
                options.MinResponseDataRate = new MinDataRate(MinDataRateBytesPerSecond, MinDataRateGracePeriod);
            });
        await WarmUpAsync();
    }

    /// <summary>How many <c>/slow</c> handlers run now, and the most that ran at once since <see cref="ResetSlowHandlerCount"/>.</summary>
    public int SlowHandlersRunning => Volatile.Read(ref _slowRunning);

    public int MaxSlowHandlersRunning => Volatile.Read(ref _slowMaxRunning);

    public void ResetSlowHandlerCount() => Volatile.Write(ref _slowMaxRunning, Volatile.Read(ref _slowRunning));

    private static int _slowRunning;
    private static int _slowMaxRunning;

    /// <summary>Requests and a connection error, so the first attack does not measure the JIT compiler.</summary>
    private async Task WarmUpAsync()
    {
        using HttpClient client = Host.CreateHttp2Client();
        for (int i = 0; i < 200; i++)
        {
            await client.GetStringAsync("/probe");
        }

        await using RawHttp2Socket attacker = await RawHttp2Socket.ConnectAsync(Port);
        await attacker.HandshakeAsync();
        byte[] malformed = StreamAttackTests.MalformedRequestBlock();
        await attacker.SendAsync(w =>
        {
            for (int i = 0; i < 20; i++)
            {
                Http2FrameWriter.WriteHeaders(w, (2 * i) + 1, malformed, endStream: true, Http2Limits.DefaultMaxFrameSize);
            }
        });
        await attacker.WaitForCloseAsync(TimeSpan.FromSeconds(5));
    }

    public async Task DisposeAsync()
    {
        if (_host is not null)
        {
            await _host.DisposeAsync();
        }
    }

    private static async Task HandleAsync(HttpContext context)
    {
        switch (context.Request.Path.Value)
        {
            case "/probe":
                await context.Response.WriteAsync("ok");
                break;
            case "/slow":
                int running = Interlocked.Increment(ref _slowRunning);
                int max;
                while ((max = Volatile.Read(ref _slowMaxRunning)) < running && Interlocked.CompareExchange(ref _slowMaxRunning, running, max) != max)
                {
                }

                try
                {
                    await Task.Delay(TimeSpan.FromSeconds(1), CancellationToken.None);
                    await context.Response.WriteAsync("slow", CancellationToken.None);
                }
                finally
                {
                    Interlocked.Decrement(ref _slowRunning);
                }

                break;
            case "/cancellable":
                try
                {
                    await Task.Delay(TimeSpan.FromSeconds(1), context.RequestAborted);
                    await context.Response.WriteAsync("done", context.RequestAborted);
                }
                catch (OperationCanceledException)
                {
                }

                break;
            case "/hold":
                try
                {
                    await Task.Delay(Timeout.Infinite, context.RequestAborted);
                }
                catch (OperationCanceledException)
                {
                }

                break;
            case "/echo":
                try
                {
                    long length = 0;
                    byte[] buffer = new byte[4096];
                    int read;
                    while ((read = await context.Request.Body.ReadAsync(buffer, context.RequestAborted)) > 0)
                    {
                        length += read;
                    }

                    await context.Response.WriteAsync(length.ToString(System.Globalization.CultureInfo.InvariantCulture), context.RequestAborted);
                }
                catch (Exception exception) when (exception is OperationCanceledException or IOException or BadHttpRequestException)
                {
                }

                break;
            case "/big":
                try
                {
                    await context.Response.Body.WriteAsync(BigBody, context.RequestAborted);
                }
                catch (Exception exception) when (exception is OperationCanceledException or IOException)
                {
                }

                break;
            default:
                context.Response.StatusCode = StatusCodes.Status404NotFound;
                break;
        }
    }
}
