using System.Net;
using System.Net.WebSockets;
using System.Security.Cryptography;

namespace H2Middleware.Tests.EndToEnd;

/// <summary>
/// WebSockets over HTTP/2 (RFC 8441) end to end: .NET's ClientWebSocket, forced onto HTTP/2, against a real Kestrel
/// host whose endpoint the engine serves, over h2c (prior knowledge) and TLS; the app is plain ASP.NET Core
/// (<see cref="WebSocketTestApp"/>).
/// </summary>
public class WebSocketTests
{
    private static async Task<(KestrelTestHost Host, WebSocketTestApp App)> StartAsync(bool tls, Action<Http2ServeLoopOptions>? configure = null)
    {
        var app = new WebSocketTestApp();
        return (await KestrelTestHost.StartAsync(app.Configure, tls, configure), app);
    }

    /// <summary>One HTTP/2 connection for every socket made through it (SocketsHttpHandler multiplexes them).</summary>
    private static HttpMessageInvoker CreateInvoker() => new(new SocketsHttpHandler
    {
        SslOptions = { RemoteCertificateValidationCallback = (_, _, _, _) => true },
        EnableMultipleHttp2Connections = false,
    });

    private static async Task<ClientWebSocket> ConnectAsync(KestrelTestHost host, HttpMessageInvoker invoker, string path, string id, CancellationToken cancel)
    {
        var socket = new ClientWebSocket();
        socket.Options.HttpVersion = HttpVersion.Version20;
        socket.Options.HttpVersionPolicy = HttpVersionPolicy.RequestVersionExact;
        socket.Options.CollectHttpResponseDetails = true;
        var uri = new UriBuilder(host.BaseAddress)
        {
            Scheme = host.BaseAddress.Scheme == Uri.UriSchemeHttps ? "wss" : "ws",
            Path = path,
            Query = $"id={id}",
        };
        try
        {
            await socket.ConnectAsync(uri.Uri, invoker, cancel);
        }
        catch
        {
            socket.Dispose();
            throw;
        }

        return socket;
    }

    private static async Task<(WebSocketMessageType Type, byte[] Payload)> ReceiveMessageAsync(WebSocket socket, CancellationToken cancel)
    {
        var buffer = new byte[32 * 1024];
        using var message = new MemoryStream();
        while (true)
        {
            ValueWebSocketReceiveResult received = await socket.ReceiveAsync(buffer.AsMemory(), cancel);
            message.Write(buffer, 0, received.Count);
            if (received.EndOfMessage)
            {
                return (received.MessageType, message.ToArray());
            }
        }
    }

    private static async Task AssertEchoesAsync(WebSocket socket, byte[] payload, WebSocketMessageType type, CancellationToken cancel)
    {
        await socket.SendAsync(payload, type, endOfMessage: true, cancel);
        var (receivedType, received) = await ReceiveMessageAsync(socket, cancel);
        Assert.Equal(type, receivedType);
        Assert.True(payload.AsSpan().SequenceEqual(received), $"a {type} message of {payload.Length} bytes came back as {received.Length} different bytes");
    }

    private static byte[] Text(string text) => System.Text.Encoding.UTF8.GetBytes(text);

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task TextAndBinaryMessagesUpToOneMebibyteAreEchoed(bool tls)
    {
        var (host, app) = await StartAsync(tls);
        await using (host)
        {
            using HttpMessageInvoker invoker = CreateInvoker();
            await HangGuard.RunAsync(async cancel =>
            {
                using ClientWebSocket socket = await ConnectAsync(host, invoker, "/echo", "sizes", cancel);
                foreach (int size in (int[])[1, 125, 126, 65_535, 65_536, 300_000, 1024 * 1024])
                {
                    byte[] binary = RandomNumberGenerator.GetBytes(size);
                    await AssertEchoesAsync(socket, binary, WebSocketMessageType.Binary, cancel);
                    byte[] text = Text(RandomNumberGenerator.GetString("abcdefghijklmnopqrstuvwxyzé€", size / 2 + 1));
                    await AssertEchoesAsync(socket, text, WebSocketMessageType.Text, cancel);
                }

                await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, "done", cancel);
            });

            Assert.Equal("closed NormalClosure done", await app.OutcomeOf("sizes"));
            Assert.Empty(app.Violations);
        }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task TheClientStartsTheCloseHandshake(bool tls)
    {
        var (host, app) = await StartAsync(tls);
        await using (host)
        {
            using HttpMessageInvoker invoker = CreateInvoker();
            await HangGuard.RunAsync(async cancel =>
            {
                using ClientWebSocket socket = await ConnectAsync(host, invoker, "/echo", "client-close", cancel);
                await AssertEchoesAsync(socket, Text("before closing"), WebSocketMessageType.Text, cancel);

                await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, "client done", cancel);

                Assert.Equal(WebSocketState.Closed, socket.State);
                Assert.Equal(WebSocketCloseStatus.NormalClosure, socket.CloseStatus);
                Assert.Equal("client done", socket.CloseStatusDescription);
            });

            Assert.Equal("closed NormalClosure client done", await app.OutcomeOf("client-close"));
        }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task TheServerStartsTheCloseHandshake(bool tls)
    {
        var (host, app) = await StartAsync(tls);
        await using (host)
        {
            using HttpMessageInvoker invoker = CreateInvoker();
            await HangGuard.RunAsync(async cancel =>
            {
                using ClientWebSocket socket = await ConnectAsync(host, invoker, "/close-first", "server-close", cancel);
                var (type, hello) = await ReceiveMessageAsync(socket, cancel);
                Assert.Equal(WebSocketMessageType.Text, type);
                Assert.Equal("hello", System.Text.Encoding.UTF8.GetString(hello));

                var (closeType, _) = await ReceiveMessageAsync(socket, cancel);
                Assert.Equal(WebSocketMessageType.Close, closeType);
                Assert.Equal(WebSocketState.CloseReceived, socket.State);
                Assert.Equal("server done", socket.CloseStatusDescription);
                await socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "client agrees", cancel);
                Assert.Equal(WebSocketState.Closed, socket.State);
            });

            Assert.Equal("closed NormalClosure client agrees", await app.OutcomeOf("server-close"));
        }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task FiftyWebSocketsShareOneConnection(bool tls)
    {
        const int Count = 50;
        var (host, app) = await StartAsync(tls);
        await using (host)
        {
            using HttpMessageInvoker invoker = CreateInvoker();
            await HangGuard.RunAsync(async cancel =>
            {
                ClientWebSocket[] sockets = await Task.WhenAll(Enumerable.Range(0, Count).Select(i => ConnectAsync(host, invoker, "/echo", $"many-{i}", cancel)));
                try
                {
                    // Every socket open at once, each exchanging its own messages concurrently with the others.
                    await Task.WhenAll(sockets.Select(async (socket, i) =>
                    {
                        for (int round = 0; round < 3; round++)
                        {
                            await AssertEchoesAsync(socket, Text($"socket {i} round {round}"), WebSocketMessageType.Text, cancel);
                        }

                        await AssertEchoesAsync(socket, RandomNumberGenerator.GetBytes(40_000 + i), WebSocketMessageType.Binary, cancel);
                    }));
                    await Task.WhenAll(sockets.Select(socket => socket.CloseAsync(WebSocketCloseStatus.NormalClosure, "bye", cancel)));
                }
                finally
                {
                    foreach (ClientWebSocket socket in sockets)
                    {
                        socket.Dispose();
                    }
                }
            });

            for (int i = 0; i < Count; i++)
            {
                Assert.Equal("closed NormalClosure bye", await app.OutcomeOf($"many-{i}"));
            }

            Assert.Single(app.ConnectionIds);
            Assert.Equal(Count, app.StreamIds.Distinct().Count());
            Assert.Empty(app.Violations);
        }
    }

    /// <summary>A socket that either side aborts is reset alone: the other sockets of the connection go on, and new ones open on it.</summary>
    [Theory]
    [InlineData(false, false)]
    [InlineData(false, true)]
    [InlineData(true, false)]
    [InlineData(true, true)]
    public async Task AbortingOneWebSocketLeavesTheOthersWorking(bool tls, bool serverAborts)
    {
        var (host, app) = await StartAsync(tls);
        await using (host)
        {
            using HttpMessageInvoker invoker = CreateInvoker();
            await HangGuard.RunAsync(async cancel =>
            {
                using ClientWebSocket first = await ConnectAsync(host, invoker, "/echo", "first", cancel);
                using ClientWebSocket victim = await ConnectAsync(host, invoker, "/echo", serverAborts ? "victim&abort" : "victim", cancel);
                using ClientWebSocket last = await ConnectAsync(host, invoker, "/echo", "last", cancel);
                await AssertEchoesAsync(first, Text("first, before"), WebSocketMessageType.Text, cancel);

                if (serverAborts)
                {
                    await victim.SendAsync(Text("abort me"), WebSocketMessageType.Text, endOfMessage: true, cancel);
                    await Assert.ThrowsAsync<WebSocketException>(async () => await ReceiveMessageAsync(victim, cancel));
                    Assert.Equal("aborted by the server", await app.OutcomeOf("victim"));
                }
                else
                {
                    await AssertEchoesAsync(victim, Text("victim, before"), WebSocketMessageType.Text, cancel);
                    victim.Abort();
                    Assert.Equal(WebSocketState.Aborted, victim.State);
                    Assert.DoesNotContain("closed", await app.OutcomeOf("victim"), StringComparison.Ordinal);
                }

                await AssertEchoesAsync(first, Text("first, after"), WebSocketMessageType.Text, cancel);
                await AssertEchoesAsync(last, RandomNumberGenerator.GetBytes(100_000), WebSocketMessageType.Binary, cancel);
                using ClientWebSocket late = await ConnectAsync(host, invoker, "/echo", "late", cancel);
                await AssertEchoesAsync(late, Text("opened after the abort"), WebSocketMessageType.Text, cancel);
                await Task.WhenAll(
                    first.CloseAsync(WebSocketCloseStatus.NormalClosure, "bye", cancel),
                    last.CloseAsync(WebSocketCloseStatus.NormalClosure, "bye", cancel),
                    late.CloseAsync(WebSocketCloseStatus.NormalClosure, "bye", cancel));
            });

            Assert.Single(app.ConnectionIds);
            Assert.Equal("closed NormalClosure bye", await app.OutcomeOf("first"));
            Assert.Equal("closed NormalClosure bye", await app.OutcomeOf("last"));
            Assert.Equal("closed NormalClosure bye", await app.OutcomeOf("late"));
        }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task TheAppCanRefuseAWebSocketWith403(bool tls)
    {
        var (host, app) = await StartAsync(tls);
        await using (host)
        {
            using HttpMessageInvoker invoker = CreateInvoker();
            await HangGuard.RunAsync(async cancel =>
            {
                using var refused = new ClientWebSocket();
                refused.Options.HttpVersion = HttpVersion.Version20;
                refused.Options.HttpVersionPolicy = HttpVersionPolicy.RequestVersionExact;
                refused.Options.CollectHttpResponseDetails = true;
                var uri = new UriBuilder(host.BaseAddress) { Scheme = tls ? "wss" : "ws", Path = "/forbidden" }.Uri;

                await Assert.ThrowsAsync<WebSocketException>(() => refused.ConnectAsync(uri, invoker, cancel));

                Assert.Equal(HttpStatusCode.Forbidden, refused.HttpStatusCode);
                using ClientWebSocket accepted = await ConnectAsync(host, invoker, "/echo", "after-refusal", cancel);
                await AssertEchoesAsync(accepted, Text("still fine"), WebSocketMessageType.Text, cancel);
                await accepted.CloseAsync(WebSocketCloseStatus.NormalClosure, "bye", cancel);
            });

            Assert.Equal("closed NormalClosure bye", await app.OutcomeOf("after-refusal"));
        }
    }

    /// <summary>An open WebSocket is an open stream: a quiet one outlives the keep-alive timeout of its connection.</summary>
    [Fact]
    public async Task AQuietWebSocketOutlivesTheKeepAliveTimeout()
    {
        var (host, app) = await StartAsync(tls: false, o => o.KeepAliveTimeout = TimeSpan.FromMilliseconds(500));
        await using (host)
        {
            using HttpMessageInvoker invoker = CreateInvoker();
            await HangGuard.RunAsync(async cancel =>
            {
                using ClientWebSocket socket = await ConnectAsync(host, invoker, "/echo", "quiet", cancel);
                await AssertEchoesAsync(socket, Text("hello"), WebSocketMessageType.Text, cancel);

                await Task.Delay(TimeSpan.FromSeconds(2), cancel);

                await AssertEchoesAsync(socket, Text("still here"), WebSocketMessageType.Text, cancel);
                await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, "bye", cancel);
            });

            Assert.Equal("closed NormalClosure bye", await app.OutcomeOf("quiet"));
            Assert.Single(app.ConnectionIds);
        }
    }
}
