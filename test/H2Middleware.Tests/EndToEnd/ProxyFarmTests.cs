using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Net.WebSockets;
using System.Security.Cryptography;
using Grpc.Core;
using Grpc.Net.Client;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using ProxyFarm;
using Xunit.Abstractions;

namespace H2Middleware.Tests.EndToEnd;

/// <summary>
/// The ProxyFarm sample's layout, run in-process with its own code: YARP in front, forwarding over h2c
/// (Version 2, RequestVersionExact) to three backends served by the engine. Every backend records each request that
/// reaches it; the proxy numbers the requests it receives (a header it adds before choosing a destination), so a
/// backend's record also says when, in the proxy's order, a request arrived.
/// </summary>
public sealed class ProxyFarmTests(ITestOutputHelper output) : IAsyncLifetime
{
    private const string SequenceHeader = "x-proxy-sequence";

    private static readonly string[] BackendNames = ["b1", "b2", "b3"];

    private readonly ConcurrentQueue<Arrival> _arrivals = new();
    private long _sequence;
    private Farm? _farm;

    /// <summary>A request as a backend saw it: the hop from the proxy, and whether it was an extended CONNECT.</summary>
    private sealed record Arrival(string Backend, string Path, string Protocol, bool ServedByEngine, string? ConnectProtocol, long Sequence);

    private Farm Farm => _farm!;

    public async Task InitializeAsync() => _farm = await Farm.StartAsync(
        proxyPort: 0,
        backendPorts: [0, 0, 0],
        configureBackend: (name, app) => app.Use((context, next) =>
        {
            IHttpExtendedConnectFeature? connect = context.Features.Get<IHttpExtendedConnectFeature>();
            _arrivals.Enqueue(new Arrival(
                name,
                context.Request.Path,
                context.Request.Protocol,
                KestrelTestHost.ServedByEngine(context),
                connect is { IsExtendedConnect: true } ? connect.Protocol : null,
                long.Parse(context.Request.Headers[SequenceHeader].ToString(), CultureInfo.InvariantCulture)));
            return next(context);
        }),
        configureProxy: app => app.Use((context, next) =>
        {
            context.Request.Headers[SequenceHeader] = Interlocked.Increment(ref _sequence).ToString(CultureInfo.InvariantCulture);
            return next(context);
        }));

    public async Task DisposeAsync()
    {
        if (_farm is not null)
        {
            await _farm.DisposeAsync();
        }
    }

    private HttpClient CreateHttp2Client() => new(new SocketsHttpHandler())
    {
        BaseAddress = Farm.ProxyAddress,
        DefaultRequestVersion = HttpVersion.Version20,
        DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact,
        Timeout = TimeSpan.FromSeconds(20),
    };

    [Fact]
    public async Task RequestsSpreadRoundRobinOverTheBackendsOverHttp2()
    {
        using HttpClient client = CreateHttp2Client();
        var answeredBy = new List<string>();
        for (int i = 0; i < 30; i++)
        {
            using HttpResponseMessage response = await client.GetAsync(new Uri("/", UriKind.Relative));
            string backend = Assert.Single(response.Headers.GetValues(Backend.NameHeader));
            Assert.Equal(HttpVersion.Version20, response.Version);
            Assert.Equal($"Hello from {backend} over HTTP/2 (H2Middleware)\n", await response.Content.ReadAsStringAsync());
            answeredBy.Add(backend);
        }

        Assert.All(BackendNames, name => Assert.Equal(10, answeredBy.Count(b => b == name)));

        // HTTP/1.1 in front: the hop to the backend is HTTP/2 all the same.
        using var http11 = new HttpRequestMessage(HttpMethod.Get, new Uri(Farm.ProxyAddress, "/")) { Version = HttpVersion.Version11, VersionPolicy = HttpVersionPolicy.RequestVersionExact };
        using HttpResponseMessage viaHttp11 = await client.SendAsync(http11);
        Assert.Equal(HttpVersion.Version11, viaHttp11.Version);
        Assert.EndsWith(" over HTTP/2 (H2Middleware)\n", await viaHttp11.Content.ReadAsStringAsync(), StringComparison.Ordinal);

        Assert.Equal(31, _arrivals.Count);
        Assert.All(_arrivals, a => Assert.True(a is { Protocol: "HTTP/2", ServedByEngine: true }, $"{a}"));
    }

    [Fact]
    public async Task GrpcUnaryAndServerStreamingKeepTheirTrailersThroughTheProxy()
    {
        using var channel = GrpcChannel.ForAddress(Farm.ProxyAddress, new GrpcChannelOptions { HttpHandler = new SocketsHttpHandler() });
        CallInvoker invoker = channel.CreateCallInvoker();
        var servedBy = new HashSet<string>();

        for (int i = 0; i < BackendNames.Length; i++)
        {
            using AsyncUnaryCall<string> call = invoker.AsyncUnaryCall(GreeterBase.SayHelloMethod, null, new CallOptions(), "farm");
            Assert.Equal("Hello, farm", await call.ResponseAsync);
            Assert.Equal(StatusCode.OK, call.GetStatus().StatusCode);
            servedBy.Add(call.GetTrailers().GetValue("backend")!);
        }

        Assert.Equal(BackendNames, servedBy.Order());

        using (AsyncServerStreamingCall<string> stream = invoker.AsyncServerStreamingCall(GreeterBase.CountMethod, null, new CallOptions(), "50"))
        {
            var items = new List<string>();
            await foreach (string item in stream.ResponseStream.ReadAllAsync())
            {
                items.Add(item);
            }

            Assert.Equal(Enumerable.Range(1, 50).Select(i => i.ToString(CultureInfo.InvariantCulture)), items);
            Assert.Equal(StatusCode.OK, stream.GetStatus().StatusCode);
            Assert.Contains(stream.GetTrailers().GetValue("backend"), BackendNames);
        }

        // A failure is a trailers-only response: status, message and the custom trailer, all in the one HEADERS frame.
        RpcException error = await Assert.ThrowsAsync<RpcException>(async () =>
            await invoker.AsyncUnaryCall(GreeterBase.SayHelloMethod, null, new CallOptions(), ""));
        Assert.Equal(StatusCode.InvalidArgument, error.StatusCode);
        Assert.Equal("a name is required", error.Status.Detail);
        Assert.Contains(error.Trailers.GetValue("backend"), BackendNames);

        Assert.All(_arrivals, a => Assert.True(a is { Protocol: "HTTP/2", ServedByEngine: true }, $"{a}"));
    }

    /// <summary>
    /// RFC 8441 on both hops: the client opens each socket as an extended CONNECT stream of its HTTP/2 connection to the
    /// proxy, and YARP opens one to the backend the same way (its cluster asks for HTTP/2 exactly).
    /// </summary>
    [Fact]
    public async Task WebSocketsOverHttp2GoThroughTheProxyOverHttp2()
    {
        using var invoker = new HttpMessageInvoker(new SocketsHttpHandler());
        var address = new UriBuilder(Farm.ProxyAddress) { Scheme = "ws", Path = "/ws" }.Uri;
        await HangGuard.RunAsync(async cancel =>
        {
            for (int i = 0; i < BackendNames.Length; i++)
            {
                using var socket = new ClientWebSocket();
                socket.Options.HttpVersion = HttpVersion.Version20;
                socket.Options.HttpVersionPolicy = HttpVersionPolicy.RequestVersionExact;
                await socket.ConnectAsync(address, invoker, cancel);

                await AssertEchoesAsync(socket, System.Text.Encoding.UTF8.GetBytes($"socket {i}"), WebSocketMessageType.Text, cancel);
                await AssertEchoesAsync(socket, RandomNumberGenerator.GetBytes(100_000), WebSocketMessageType.Binary, cancel);
                await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, "bye", cancel);
                Assert.Equal(WebSocketCloseStatus.NormalClosure, socket.CloseStatus);
                Assert.Equal("bye", socket.CloseStatusDescription);
            }
        });

        Arrival[] sockets = [.. _arrivals.Where(a => a.Path == "/ws")];
        Assert.Equal(BackendNames, sockets.Select(a => a.Backend).Order());
        Assert.All(sockets, a => Assert.True(a is { Protocol: "HTTP/2", ServedByEngine: true, ConnectProtocol: "websocket" }, $"{a}"));
    }

    /// <summary>
    /// A backend leaves under load the way a deployment takes one out: out of the proxy's rotation, then a graceful stop.
    /// No client request fails, and none that the proxy received after the removal reached the leaving backend.
    /// </summary>
    [Fact]
    public async Task ABackendDrainedUnderLoadCostsNoRequest()
    {
        const int Loops = 8;
        const int MaxRequestsPerLoop = 2_000;
        using HttpClient client = CreateHttp2Client();
        var failures = new ConcurrentQueue<string>();
        int succeeded = 0;
        long sequenceAtRemoval = 0;
        long sequenceAtStop = 0;

        await HangGuard.RunAsync(async cancel =>
        {
            DateTime loadEnds = DateTime.UtcNow.AddSeconds(2.5);
            Task[] load = [.. Enumerable.Range(0, Loops).Select(_ => Task.Run(async () =>
            {
                for (int i = 0; i < MaxRequestsPerLoop && DateTime.UtcNow < loadEnds; i++)
                {
                    try
                    {
                        using HttpResponseMessage response = await client.GetAsync(new Uri("/", UriKind.Relative), cancel);
                        string body = await response.Content.ReadAsStringAsync(cancel);
                        if (response.StatusCode == HttpStatusCode.OK && body.StartsWith("Hello from ", StringComparison.Ordinal))
                        {
                            Interlocked.Increment(ref succeeded);
                        }
                        else
                        {
                            failures.Enqueue($"{(int)response.StatusCode}: {body}");
                        }
                    }
                    catch (HttpRequestException error)
                    {
                        failures.Enqueue(error.ToString());
                    }
                }
            }, cancel))];

            while (_arrivals.Count(a => a.Backend == "b3") < 20)
            {
                await Task.Delay(10, cancel);
            }

            await Farm.RemoveFromProxyAsync("b3", cancel);
            sequenceAtRemoval = Interlocked.Read(ref _sequence);
            await Farm.StopBackendAsync("b3", cancel);
            sequenceAtStop = Interlocked.Read(ref _sequence);
            await Task.WhenAll(load);
        }, () => $"{succeeded} requests succeeded, {failures.Count} failed");

        output.WriteLine($"{succeeded} requests; b3 taken out at request {sequenceAtRemoval}, stopped at {sequenceAtStop}; {string.Join(", ", _arrivals.GroupBy(a => a.Backend).OrderBy(g => g.Key).Select(g => $"{g.Key} served {g.Count()}"))}");
        Assert.Empty(failures);
        Assert.Equal(succeeded, _arrivals.Count);
        Assert.True(succeeded > sequenceAtStop, "the load went on after b3 stopped");
        long[] drained = [.. _arrivals.Where(a => a.Backend == "b3").Select(a => a.Sequence)];
        Assert.True(drained.Max() <= sequenceAtRemoval, $"b3 received request {drained.Max()}, the proxy had received {sequenceAtRemoval} when it took b3 out");
        Assert.All(new[] { "b1", "b2" }, name => Assert.Contains(_arrivals, a => a.Backend == name && a.Sequence > sequenceAtRemoval));
    }

    private static async Task AssertEchoesAsync(WebSocket socket, byte[] payload, WebSocketMessageType type, CancellationToken cancel)
    {
        await socket.SendAsync(payload, type, endOfMessage: true, cancel);
        var buffer = new byte[payload.Length + 1];
        int length = 0;
        ValueWebSocketReceiveResult received;
        do
        {
            received = await socket.ReceiveAsync(buffer.AsMemory(length), cancel);
            length += received.Count;
        }
        while (!received.EndOfMessage);

        Assert.Equal(type, received.MessageType);
        Assert.True(payload.AsSpan().SequenceEqual(buffer.AsSpan(0, length)), $"a {type} message of {payload.Length} bytes came back as {length} different bytes");
    }
}
