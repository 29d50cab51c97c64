using System.Text;
using H2Middleware.Frames;
using H2Middleware.Tests.ServeLoop.Harness;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core.Features;
using Microsoft.Extensions.Time.Testing;

namespace H2Middleware.Tests.ServeLoop;

/// <summary>
/// Extended CONNECT (RFC 8441) over the in-memory client: the setting that allows it, the request rules of §4, and the
/// tunnel an application accepts through IHttpExtendedConnectFeature.
/// </summary>
public class ExtendedConnectTests
{
    private static readonly RequestDelegate Ok = context => context.Response.WriteAsync("ok");

    private static List<KeyValuePair<string, string>> ExtendedConnect(string protocol = "websocket", string path = "/chat?room=1") =>
    [
        new(":method", "CONNECT"),
        new(":protocol", protocol),
        new(":scheme", "https"),
        new(":authority", "localhost"),
        new(":path", path),
        new("sec-websocket-version", "13"),
    ];

    [Fact]
    public async Task SettingsAllowExtendedConnectByDefault()
    {
        await using var client = Http2TestClient.Start(Ok);
        await client.SendPrefaceAsync();

        ReceivedFrame settings = await client.ReadFrameAsync();

        Assert.Equal(Http2FrameType.Settings, settings.Type);
        Assert.Contains(new Http2Setting(Http2SettingsParameter.EnableConnectProtocol, 1), settings.Settings);
    }

    [Fact]
    public async Task SettingsDoNotAllowExtendedConnectWhenTheOptionIsOff()
    {
        await using var client = Http2TestClient.Start(Ok, o => o.EnableExtendedConnect = false);
        await client.SendPrefaceAsync();

        ReceivedFrame settings = await client.ReadFrameAsync();

        Assert.Equal(Http2FrameType.Settings, settings.Type);
        Assert.DoesNotContain(settings.Settings, s => s.Parameter == Http2SettingsParameter.EnableConnectProtocol && s.Value != 0);
    }

    public static TheoryData<string, string[]> MalformedExtendedConnects => new()
    {
        { ":protocol on GET", [":method", "GET", ":protocol", "websocket", ":scheme", "https", ":authority", "localhost", ":path", "/"] },
        { ":protocol on POST", [":method", "POST", ":protocol", "websocket", ":scheme", "https", ":authority", "localhost", ":path", "/"] },
        { "without :path", [":method", "CONNECT", ":protocol", "websocket", ":scheme", "https", ":authority", "localhost"] },
        { "without :scheme", [":method", "CONNECT", ":protocol", "websocket", ":authority", "localhost", ":path", "/"] },
        { "without :authority", [":method", "CONNECT", ":protocol", "websocket", ":scheme", "https", ":path", "/"] },
        { "empty :path", [":method", "CONNECT", ":protocol", "websocket", ":scheme", "https", ":authority", "localhost", ":path", ""] },
        { "empty :protocol", [":method", "CONNECT", ":protocol", "", ":scheme", "https", ":authority", "localhost", ":path", "/"] },
        { ":protocol not a token", [":method", "CONNECT", ":protocol", "web socket", ":scheme", "https", ":authority", "localhost", ":path", "/"] },
        { "duplicate :protocol", [":method", "CONNECT", ":protocol", "websocket", ":protocol", "websocket", ":scheme", "https", ":authority", "localhost", ":path", "/"] },
        { "upgrade header", [":method", "CONNECT", ":protocol", "websocket", ":scheme", "https", ":authority", "localhost", ":path", "/", "upgrade", "websocket"] },
        { "connection header", [":method", "CONNECT", ":protocol", "websocket", ":scheme", "https", ":authority", "localhost", ":path", "/", "connection", "upgrade"] },
    };

    /// <summary>RFC 8441 §4 and RFC 9113 §8.3: a malformed extended CONNECT is reset with PROTOCOL_ERROR and never reaches the handler.</summary>
    [Theory]
    [MemberData(nameof(MalformedExtendedConnects))]
    public async Task MalformedExtendedConnectIsResetWithProtocolError(string why, string[] fields)
    {
        bool handlerRan = false;
        await using var client = await Http2TestClient.ConnectAsync(context =>
        {
            handlerRan = true;
            return Ok(context);
        });

        await client.SendRawHeadersAsync(1, Pairs(fields), endStream: false);

        await client.ExpectRstStreamAsync(1, Http2ErrorCode.ProtocolError);
        Assert.False(handlerRan, why);
        await client.SendGetAsync(3);
        Assert.Equal("ok", (await client.ReadResponseAsync(3)).BodyText);
    }

    /// <summary>Without our SETTINGS_ENABLE_CONNECT_PROTOCOL, :protocol is an undefined pseudo-header field (RFC 9113 §8.3).</summary>
    [Fact]
    public async Task ProtocolIsMalformedWhenExtendedConnectIsOff()
    {
        bool handlerRan = false;
        await using var client = await Http2TestClient.ConnectAsync(context =>
        {
            handlerRan = true;
            return Ok(context);
        }, o => o.EnableExtendedConnect = false);

        await client.SendRawHeadersAsync(1, ExtendedConnect(), endStream: false);

        await client.ExpectRstStreamAsync(1, Http2ErrorCode.ProtocolError);
        Assert.False(handlerRan);
    }

    /// <summary>
    /// RFC 8441 §4: the request reaches the application with its target (the application is the tunnel's peer, not the
    /// host of :authority), and any protocol token reaches it the same way. There is no body and no body size limit.
    /// </summary>
    [Theory]
    [InlineData("websocket")]
    [InlineData("connect-udp")]
    public async Task ExtendedConnectReachesTheApplicationThroughTheFeature(string protocol)
    {
        string? seen = null;
        await using var client = await Http2TestClient.ConnectAsync(context =>
        {
            var connect = context.Features.Get<IHttpExtendedConnectFeature>()!;
            var limit = context.Features.Get<IHttpMaxRequestBodySizeFeature>()!;
            seen = string.Join('|',
                connect.IsExtendedConnect, connect.Protocol, context.Request.Method, context.Request.Scheme, context.Request.Host,
                context.Request.Path, context.Request.QueryString, context.Features.Get<IHttpRequestBodyDetectionFeature>()!.CanHaveBody,
                limit.MaxRequestBodySize is null, limit.IsReadOnly);
            context.Response.StatusCode = StatusCodes.Status404NotFound;
            return Task.CompletedTask;
        });

        await client.SendHeadersAsync(1, ExtendedConnect(protocol), endStream: false);

        Assert.Equal("404", (await client.ReadResponseAsync(1)).Status);
        Assert.Equal($"True|{protocol}|CONNECT|https|localhost|/chat|?room=1|False|True|True", seen);
    }

    [Fact]
    public async Task AnOrdinaryRequestIsNotExtendedConnectAndCannotBeAccepted()
    {
        string? seen = null;
        await using var client = await Http2TestClient.ConnectAsync(async context =>
        {
            var connect = context.Features.Get<IHttpExtendedConnectFeature>()!;
            var error = await Record(async () => await connect.AcceptAsync());
            seen = $"{connect.IsExtendedConnect}|{connect.Protocol}|{error?.Name}";
        });

        await client.SendGetAsync(1);

        await client.ReadResponseAsync(1);
        Assert.Equal("False||InvalidOperationException", seen);
    }

    /// <summary>
    /// AcceptAsync answers with the 2xx status without END_STREAM; DATA then flows both ways through the stream it
    /// returns, which the minimum data rates no longer watch, and ends when the handler returns.
    /// </summary>
    [Fact]
    public async Task AnAcceptedTunnelCarriesDataBothWays()
    {
        string? seen = null;
        await using var client = await Http2TestClient.ConnectAsync(async context =>
        {
            int bodyBefore = await context.Request.Body.ReadAsync(new byte[16]);
            context.Response.Headers["sec-websocket-protocol"] = "chat";
            Stream tunnel = await context.Features.Get<IHttpExtendedConnectFeature>()!.AcceptAsync();
            seen = $"{bodyBefore}|{context.Features.Get<IHttpMinRequestBodyDataRateFeature>()!.MinDataRate is null}|{context.Features.Get<IHttpMinResponseDataRateFeature>()!.MinDataRate is null}";
            var buffer = new byte[1024];
            int read;
            while ((read = await tunnel.ReadAsync(buffer)) > 0)
            {
                await tunnel.WriteAsync(Encoding.ASCII.GetBytes(Encoding.ASCII.GetString(buffer, 0, read).ToUpperInvariant()));
            }
        });

        await client.SendHeadersAsync(1, ExtendedConnect(), endStream: false);
        ReceivedFrame headers = await client.ExpectAsync(Http2FrameType.Headers, 1);
        Assert.False(headers.EndStream);
        List<KeyValuePair<string, string>> fields = client.DecodeHeaders(headers);
        Assert.Contains(new KeyValuePair<string, string>(":status", "200"), fields);
        Assert.Contains(new KeyValuePair<string, string>("sec-websocket-protocol", "chat"), fields);
        Assert.DoesNotContain(fields, f => f.Key == "content-length");

        await client.SendDataAsync(1, "ping", endStream: false);
        Assert.Equal("PING", Encoding.ASCII.GetString((await client.ExpectAsync(Http2FrameType.Data, 1)).Payload));
        await client.SendDataAsync(1, "again", endStream: true);
        var rest = new StringBuilder();
        ReceivedFrame data;
        do
        {
            data = await client.ExpectAsync(Http2FrameType.Data, 1);
            rest.Append(Encoding.ASCII.GetString(data.Payload));
        }
        while (!data.EndStream);

        Assert.Equal("AGAIN", rest.ToString());
        Assert.Equal("0|True|True", seen);
    }

    /// <summary>Before accepting, the application may refuse with any other status and a body, as WebSocket middleware does with 403.</summary>
    [Fact]
    public async Task TheApplicationMayRefuseWithAStatusAndABody()
    {
        await using var client = await Http2TestClient.ConnectAsync(context =>
        {
            context.Response.StatusCode = StatusCodes.Status403Forbidden;
            return context.Response.WriteAsync("not here");
        });

        await client.SendHeadersAsync(1, ExtendedConnect(), endStream: false);

        TestResponse response = await client.ReadResponseAsync(1);
        Assert.Equal("403", response.Status);
        Assert.Equal("not here", response.BodyText);
    }

    public static TheoryData<string> Misuses => ["accept with 403", "accept twice", "2xx body before accepting"];

    [Theory]
    [MemberData(nameof(Misuses))]
    public async Task MisusingTheFeatureThrows(string misuse)
    {
        Type? thrown = null;
        await using var client = await Http2TestClient.ConnectAsync(async context =>
        {
            var connect = context.Features.Get<IHttpExtendedConnectFeature>()!;
            switch (misuse)
            {
                case "accept with 403":
                    context.Response.StatusCode = StatusCodes.Status403Forbidden;
                    thrown = await Record(async () => await connect.AcceptAsync());
                    break;
                case "accept twice":
                    await connect.AcceptAsync();
                    thrown = await Record(async () => await connect.AcceptAsync());
                    break;
                default:
                    thrown = await Record(() => context.Response.WriteAsync("a body is not a tunnel"));
                    break;
            }
        });

        await client.SendHeadersAsync(1, ExtendedConnect(), endStream: true);

        await client.ReadResponseAsync(1);
        Assert.Equal(typeof(InvalidOperationException), thrown);
    }

    /// <summary>RFC 9113 §8.5: an accepted tunnel carries only DATA from the server, even when the handler sets trailers.</summary>
    [Fact]
    public async Task TrailersAreNotSentOnAnAcceptedTunnel()
    {
        await using var client = await Http2TestClient.ConnectAsync(async context =>
        {
            Stream tunnel = await context.Features.Get<IHttpExtendedConnectFeature>()!.AcceptAsync();
            await tunnel.WriteAsync("tunnelled"u8.ToArray());
            context.Response.AppendTrailer("x-trailer", "1");
        });

        await client.SendHeadersAsync(1, ExtendedConnect(), endStream: false);

        TestResponse response = await client.ReadResponseAsync(1);
        Assert.Equal("tunnelled", response.BodyText);
        Assert.Null(response.Trailers);
    }

    /// <summary>RFC 9113 §8.5: HEADERS from the client on an accepted tunnel is a stream error.</summary>
    [Fact]
    public async Task HeadersOnAnAcceptedTunnelAreAStreamError()
    {
        await using var client = await Http2TestClient.ConnectAsync(async context =>
        {
            Stream tunnel = await context.Features.Get<IHttpExtendedConnectFeature>()!.AcceptAsync();
            await tunnel.CopyToAsync(Stream.Null);
        });

        await client.SendHeadersAsync(1, ExtendedConnect(), endStream: false);
        await client.ExpectAsync(Http2FrameType.Headers, 1);
        await client.SendRawHeadersAsync(1, [new("x-not-data", "1")], endStream: true);

        await client.ExpectRstStreamAsync(1, Http2ErrorCode.ProtocolError);
    }

    /// <summary>
    /// An open tunnel is an open stream: however long it lasts, the connection is not idle and the keep-alive timeout
    /// does not end it. Once the tunnel closes, the same timeout does.
    /// </summary>
    [Fact]
    public async Task AnOpenTunnelOutlivesTheKeepAliveTimeout()
    {
        var keepAlive = TimeSpan.FromSeconds(10);
        var time = new FakeTimeProvider();
        await using var client = await Http2TestClient.ConnectAsync(async context =>
        {
            Stream tunnel = await context.Features.Get<IHttpExtendedConnectFeature>()!.AcceptAsync();
            var buffer = new byte[64];
            int read;
            while ((read = await tunnel.ReadAsync(buffer)) > 0)
            {
                await tunnel.WriteAsync(buffer.AsMemory(0, read));
            }
        }, o =>
        {
            o.TimeProvider = time;
            o.KeepAliveTimeout = keepAlive;
        });
        await client.SendHeadersAsync(1, ExtendedConnect(), endStream: false);
        await client.ExpectAsync(Http2FrameType.Headers, 1);

        for (int i = 0; i < 6; i++)
        {
            time.Advance(keepAlive);
            await client.SendDataAsync(1, $"tick {i}", endStream: false);
            // ExpectAsync fails on any other frame, so a GOAWAY here would fail the test.
            Assert.Equal($"tick {i}", Encoding.ASCII.GetString((await client.ExpectAsync(Http2FrameType.Data, 1)).Payload));
        }

        await client.SendDataAsync(1, "bye", endStream: true);
        while (!(await client.ExpectAsync(Http2FrameType.Data, 1)).EndStream)
        {
        }

        // The handler's completion reaches the loop just after its last frame: let the clock run until the idle connection goes.
        ReceivedFrame? goAway = null;
        for (int i = 0; i < 10 && goAway is null; i++)
        {
            time.Advance(keepAlive);
            goAway = await TryReadGoAwayAsync(client, TimeSpan.FromMilliseconds(300));
        }

        Assert.NotNull(goAway);
        Assert.Equal(Http2ErrorCode.NoError, goAway.ErrorCode);
    }

    private static async Task<ReceivedFrame?> TryReadGoAwayAsync(Http2TestClient client, TimeSpan wait)
    {
        try
        {
            ReceivedFrame frame = await client.ReadFrameAsync(wait);
            Assert.True(frame.Type is Http2FrameType.GoAway or Http2FrameType.WindowUpdate, $"unexpected {frame} after the tunnel closed");
            return frame.Type == Http2FrameType.GoAway ? frame : null;
        }
        catch (TimeoutException)
        {
            return null;
        }
    }

    private static List<KeyValuePair<string, string>> Pairs(string[] fields)
    {
        var headers = new List<KeyValuePair<string, string>>();
        for (int i = 0; i < fields.Length; i += 2)
        {
            headers.Add(new(fields[i], fields[i + 1]));
        }

        return headers;
    }

    private static async Task<Type?> Record(Func<Task> action)
    {
        try
        {
            await action();
            return null;
        }
        catch (Exception error)
        {
            return error.GetType();
        }
    }
}
