using H2Middleware.Frames;
using H2Middleware.Tests.ServeLoop.Harness;
using Microsoft.AspNetCore.Http;

namespace H2Middleware.Tests.ServeLoop;

/// <summary>RFC 9113 §8.2–8.3: a malformed request is a stream error of type PROTOCOL_ERROR and never reaches the handler.</summary>
public class RequestHeaderValidationTests
{
    public static TheoryData<string, string[]> MalformedRequests => new()
    {
        { "uppercase name", [":method", "GET", ":scheme", "https", ":path", "/", "X-Upper", "1"] },
        { "connection header", [":method", "GET", ":scheme", "https", ":path", "/", "connection", "keep-alive"] },
        { "transfer-encoding", [":method", "GET", ":scheme", "https", ":path", "/", "transfer-encoding", "chunked"] },
        { "keep-alive", [":method", "GET", ":scheme", "https", ":path", "/", "keep-alive", "5"] },
        { "upgrade", [":method", "GET", ":scheme", "https", ":path", "/", "upgrade", "h2c"] },
        { "te other than trailers", [":method", "GET", ":scheme", "https", ":path", "/", "te", "gzip"] },
        { "pseudo after regular", [":method", "GET", ":scheme", "https", "accept", "*/*", ":path", "/"] },
        { "duplicate :path", [":method", "GET", ":scheme", "https", ":path", "/", ":path", "/"] },
        { "duplicate :method", [":method", "GET", ":method", "GET", ":scheme", "https", ":path", "/"] },
        { "missing :path", [":method", "GET", ":scheme", "https"] },
        { "missing :method", [":scheme", "https", ":path", "/"] },
        { "missing :scheme", [":method", "GET", ":path", "/"] },
        { "empty :path", [":method", "GET", ":scheme", "https", ":path", ""] },
        { "unknown pseudo", [":method", "GET", ":scheme", "https", ":path", "/", ":custom", "1"] },
        { "response pseudo", [":method", "GET", ":scheme", "https", ":path", "/", ":status", "200"] },
        { ":protocol without extended CONNECT", [":method", "GET", ":scheme", "https", ":path", "/", ":protocol", "websocket"] },
        { "CONNECT with :path", [":method", "CONNECT", ":authority", "x:443", ":scheme", "https", ":path", "/"] },
        { "CONNECT without :authority", [":method", "CONNECT"] },
        { "newline in value", [":method", "GET", ":scheme", "https", ":path", "/", "x-a", "a\nb"] },
        { "leading space in value", [":method", "GET", ":scheme", "https", ":path", "/", "x-a", " a"] },
        { "space in name", [":method", "GET", ":scheme", "https", ":path", "/", "x a", "1"] },
        { "invalid content-length", [":method", "POST", ":scheme", "https", ":path", "/", "content-length", "abc"] },
        { "relative :path", [":method", "GET", ":scheme", "https", ":path", "abc"] },
    };

    [Theory]
    [MemberData(nameof(MalformedRequests))]
    public async Task MalformedRequestIsResetWithProtocolError(string why, string[] fields)
    {
        bool handlerRan = false;
        await using var client = await Http2TestClient.ConnectAsync(context =>
        {
            handlerRan = true;
            return context.Response.WriteAsync("ok");
        });

        var headers = new List<KeyValuePair<string, string>>();
        for (int i = 0; i < fields.Length; i += 2)
        {
            headers.Add(new(fields[i], fields[i + 1]));
        }

        await client.SendRawHeadersAsync(1, headers, endStream: true);
        await client.ExpectRstStreamAsync(1, Http2ErrorCode.ProtocolError);
        Assert.False(handlerRan, why);

        await client.SendGetAsync(3);
        Assert.Equal("ok", (await client.ReadResponseAsync(3)).BodyText);
    }

    [Fact]
    public async Task PseudoHeaderInTrailersIsAStreamProtocolError()
    {
        await using var client = await Http2TestClient.ConnectAsync(async context =>
        {
            await new StreamReader(context.Request.Body).ReadToEndAsync();
        });

        await client.SendPostAsync(1);
        await client.SendRawHeadersAsync(1, [new(":path", "/")], endStream: true);
        await client.ExpectRstStreamAsync(1, Http2ErrorCode.ProtocolError);
    }

    [Fact]
    public async Task TrailersWithoutEndStreamAreAStreamProtocolError()
    {
        await using var client = await Http2TestClient.ConnectAsync(async context =>
        {
            await new StreamReader(context.Request.Body).ReadToEndAsync();
        });

        await client.SendPostAsync(1);
        await client.SendHeadersAsync(1, [new("x-trailer", "1")], endStream: false);
        await client.ExpectRstStreamAsync(1, Http2ErrorCode.ProtocolError);
    }

    [Fact]
    public async Task TeTrailersIsAllowed()
    {
        await using var client = await Http2TestClient.ConnectAsync(context => context.Response.WriteAsync("ok"));
        await client.SendGetAsync(1, "/", true, ("te", "trailers"));
        Assert.Equal("ok", (await client.ReadResponseAsync(1)).BodyText);
    }
}
