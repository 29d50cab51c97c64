using System.Collections.Concurrent;
using System.Text;
using H2Middleware.Frames;
using H2Middleware.Hpack;
using H2Middleware.Tests.ServeLoop.Harness;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using static H2Middleware.Tests.ServeLoop.StreamStateTests;

namespace H2Middleware.Tests.ServeLoop;

/// <summary>
/// MUST-level rules of RFC 9113 and RFC 7541 that no other test checked, each on the serve loop through the in-memory
/// harness. docs/CONFORMANCE.md lists every rule and the test that covers it.
/// </summary>
public partial class RfcMustTests
{
    private static readonly RequestDelegate Hello = context => context.Response.WriteAsync("hello");

    private static readonly Http2FrameFlags UnusedHeadersFlags = (Http2FrameFlags)0xD2;

    // ---- §3.4 Connection preface ----

    /// <summary>§3.4: the server's SETTINGS is its first frame, and the client's SETTINGS is acknowledged after it.</summary>
    [Fact]
    public async Task TheClientsSettingsAreAcknowledgedAfterTheServerPreface()
    {
        await using var client = Http2TestClient.Start(Hello);
        await client.SendPrefaceAsync();
        await client.SendSettingsAsync(new Http2Setting(Http2SettingsParameter.InitialWindowSize, 1000));

        List<ReceivedFrame> frames = await ReadUntilAsync(client, f => f.Type == Http2FrameType.Settings && f.IsAck);
        Assert.Equal(Http2FrameType.Settings, frames[0].Type);
        Assert.False(frames[0].IsAck);
        Assert.True(frames.Count > 1, "the acknowledgement is not the first frame");
    }

    /// <summary>§3.4: an invalid preface on a connection whose ALPN chose h2 is a connection error of type PROTOCOL_ERROR.</summary>
    [Fact]
    public async Task InvalidPrefaceAfterAlpnH2IsAConnectionProtocolError()
    {
        await using var client = Http2TestClient.Start(Hello, alpnH2: true);
        await client.SendRawAsync(Encoding.ASCII.GetBytes("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
        await client.ExpectGoAwayAsync(Http2ErrorCode.ProtocolError);
        await client.ExpectConnectionClosedAsync();
        Assert.False(client.PassedToNext);
    }

    // ---- §4.1, §4.2, §4.3 Frames and field blocks ----

    /// <summary>
    /// §4.1: no frame over 16,384 octets unless the client allowed more (§6.5.2 SETTINGS_MAX_FRAME_SIZE); §4.3 and
    /// §8.1: a field block is sent as HEADERS then CONTINUATION frames with nothing in between.
    /// </summary>
    [Theory]
    [InlineData(0)]
    [InlineData(20_000)]
    public async Task ServerFramesStayWithinTheClientsMaxFrameSizeAndHeaderBlocksAreContiguous(int clientMaxFrameSize)
    {
        await using var client = Http2TestClient.Start(async context =>
        {
            for (int i = 0; i < 4; i++)
            {
                context.Response.Headers[$"x-big-{i}"] = new string((char)('a' + i), 16_000);
            }

            await context.Response.Body.WriteAsync(new byte[100_000]);
        });
        Http2Setting window = new(Http2SettingsParameter.InitialWindowSize, 1 << 20);
        await client.HandshakeAsync(clientMaxFrameSize == 0 ? [window] : [window, new(Http2SettingsParameter.MaxFrameSize, (uint)clientMaxFrameSize)]);
        await client.SendWindowUpdateAsync(0, 1 << 20);
        await client.SendGetAsync(1);

        List<ReceivedFrame> frames = await ReadUntilAsync(client, f => f.StreamId == 1 && (f.EndStream || f.Type == Http2FrameType.RstStream));

        int limit = clientMaxFrameSize == 0 ? Http2Limits.DefaultMaxFrameSize : clientMaxFrameSize;
        Assert.All(frames, f => Assert.True(f.Payload.Length <= limit, $"{f} is larger than {limit} octets"));
        int headers = frames.FindIndex(f => f.Type == Http2FrameType.Headers && f.StreamId == 1);
        Assert.True((frames[headers].Flags & Http2FrameFlags.EndHeaders) == 0, "a 40 KB field block cannot fit in one frame");
        int next = headers + 1;
        while (true)
        {
            Assert.True(frames[next].Type == Http2FrameType.Continuation && frames[next].StreamId == 1, $"{frames[next]} interrupts the field block");
            if ((frames[next].Flags & Http2FrameFlags.EndHeaders) != 0)
            {
                break;
            }

            next++;
        }

        Assert.Equal(100_000, frames.Where(f => f.Type == Http2FrameType.Data && f.StreamId == 1).Sum(f => f.Payload.Length));
    }

    /// <summary>§4.1: flags a frame type does not define are ignored on receipt.</summary>
    [Fact]
    public async Task UnusedFlagsAreIgnoredOnReceipt()
    {
        await using var client = await Http2TestClient.ConnectAsync(async context =>
            await context.Response.WriteAsync(await new StreamReader(context.Request.Body).ReadToEndAsync() + context.Request.Path));

        await client.SendRawAsync(Frame(Http2FrameType.Ping, (Http2FrameFlags)0xFE, 0, [0, 0, 0, 0, 0, 0, 0, 42]));
        ReceivedFrame ping = await client.ExpectAsync(Http2FrameType.Ping, 0);
        Assert.True(ping.IsAck);
        Assert.Equal(42UL, ping.PingData);

        await client.SendRawAsync(Frame(Http2FrameType.Settings, (Http2FrameFlags)0xFE, 0, []));
        Assert.True((await client.ExpectAsync(Http2FrameType.Settings, 0)).IsAck);

        await client.SendRawAsync(Frame(Http2FrameType.WindowUpdate, (Http2FrameFlags)0xFF, 0, [0, 0, 0x10, 0]));

        byte[] get = client.EncodeHeaderBlock(Http2TestClient.RequestHeaders("GET", "/get"));
        await client.SendRawAsync(Frame(Http2FrameType.Headers, Http2FrameFlags.EndStream | Http2FrameFlags.EndHeaders | UnusedHeadersFlags, 1, get));
        Assert.Equal("/get", (await client.ReadResponseAsync(1)).BodyText);

        await client.SendPostAsync(3, "/post");
        await client.SendRawAsync(Frame(Http2FrameType.Data, (Http2FrameFlags)0xF6 | Http2FrameFlags.EndStream, 3, "body"u8.ToArray()));
        Assert.Equal("body/post", (await client.ReadResponseAsync(3)).BodyText);
    }

    /// <summary>§4.1: every frame the server sends leaves the flags its type does not define unset.</summary>
    [Fact]
    public async Task ServerFramesSetOnlyTheFlagsTheirTypeDefines()
    {
        await using var client = Http2TestClient.Start(
            async context =>
            {
                context.Response.Headers["x-big"] = new string('x', 20_000);
                await context.Response.WriteAsync("body");
                context.Response.AppendTrailer("x-trailer", "1");
            },
            o => o.InitialConnectionWindowSize = 1 << 20);

        await client.SendPrefaceAsync();
        await client.SendSettingsAsync();
        var frames = await ReadUntilAsync(client, f => f.Type == Http2FrameType.Settings && f.IsAck);
        await client.SendSettingsAckAsync();
        await client.SendPingAsync(1);
        frames.AddRange(await ReadUntilAsync(client, f => f.Type == Http2FrameType.Ping));
        await client.SendGetAsync(1);
        frames.AddRange(await ReadUntilAsync(client, f => f.StreamId == 1 && f.EndStream));
        await client.SendRawHeadersAsync(3, [new(":method", "GET"), new(":path", "/")], endStream: true);
        frames.AddRange(await ReadUntilAsync(client, f => f.Type == Http2FrameType.RstStream));
        await client.SendGetAsync(2);
        frames.AddRange(await ReadUntilAsync(client, f => f.Type == Http2FrameType.GoAway));

        Assert.Equal(
            [Http2FrameType.Data, Http2FrameType.Headers, Http2FrameType.RstStream, Http2FrameType.Settings, Http2FrameType.Ping, Http2FrameType.GoAway, Http2FrameType.WindowUpdate, Http2FrameType.Continuation],
            frames.Select(f => f.Type).Distinct().Order());
        foreach (ReceivedFrame frame in frames)
        {
            Http2FrameFlags defined = frame.Type switch
            {
                Http2FrameType.Data => Http2FrameFlags.EndStream | Http2FrameFlags.Padded,
                Http2FrameType.Headers => Http2FrameFlags.EndStream | Http2FrameFlags.EndHeaders | Http2FrameFlags.Padded | Http2FrameFlags.Priority,
                Http2FrameType.Settings or Http2FrameType.Ping => Http2FrameFlags.Ack,
                Http2FrameType.Continuation => Http2FrameFlags.EndHeaders,
                _ => Http2FrameFlags.None,
            };
            Assert.True((frame.Flags & ~defined) == 0, $"{frame} sets a flag its type does not define");
        }
    }

    /// <summary>§4.3: a field block that cannot be decoded is a connection error of type COMPRESSION_ERROR.</summary>
    [Theory]
    [InlineData("index 0", "80")]
    [InlineData("index past both tables", "be")]
    [InlineData("integer above 2^31-1", "ffffffffff0f")]
    [InlineData("Huffman padding that is not the EOS prefix", "408100")]
    [InlineData("table size update above SETTINGS_HEADER_TABLE_SIZE", "3fe21f")]
    public async Task AFieldBlockThatCannotBeDecodedIsAConnectionCompressionError(string why, string hex)
    {
        await using var client = await Http2TestClient.ConnectAsync(Hello);
        await client.SendRawAsync(Frame(Http2FrameType.Headers, Http2FrameFlags.EndStream | Http2FrameFlags.EndHeaders, 1, Convert.FromHexString(hex)));
        ReceivedFrame goAway = await client.ExpectGoAwayAsync(Http2ErrorCode.CompressionError);
        Assert.True(goAway.LastStreamId <= 1, why);
        await client.ExpectConnectionClosedAsync();
    }

    /// <summary>
    /// §4.3: a field block is decoded even when its stream is refused, so that the client's later blocks, which
    /// refer to the entries it added, still decode (§5.1.2 refusal, RFC 7541 §2.3.2 dynamic table).
    /// </summary>
    [Fact]
    public async Task TheFieldBlockOfARefusedStreamStillUpdatesTheDynamicTable()
    {
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var client = await Http2TestClient.ConnectAsync(
            async context =>
            {
                if (context.Request.Path == "/wait")
                {
                    await release.Task;
                }

                await context.Response.WriteAsync($"[{context.Request.Headers["x-refused"]}]");
            },
            o => o.MaxStreamsPerConnection = 1);

        await client.SendGetAsync(1, "/wait");
        await client.SendRawAsync(Frame(Http2FrameType.Headers, Http2FrameFlags.EndStream | Http2FrameFlags.EndHeaders, 3,
            [.. Http2TestClient.RawHeaderBlock(Http2TestClient.RequestHeaders("GET", "/")), .. Literal(index: true, "x-refused", "yes")]));
        await client.ExpectRstStreamAsync(3, Http2ErrorCode.RefusedStream);
        release.SetResult();
        Assert.Equal("[]", (await client.ReadResponseAsync(1)).BodyText);

        // Index 62 is the newest entry of the dynamic table: the one stream 3 added.
        await client.SendRawAsync(Frame(Http2FrameType.Headers, Http2FrameFlags.EndStream | Http2FrameFlags.EndHeaders, 5,
            [.. Http2TestClient.RawHeaderBlock(Http2TestClient.RequestHeaders("GET", "/")), 0x80 | 62]));
        Assert.Equal("[yes]", (await client.ReadResponseAsync(5)).BodyText);
    }

    /// <summary>RFC 7541 §2.3.2: the dynamic table may hold duplicate entries, and a decoder must not treat them as an error.</summary>
    [Fact]
    public async Task DuplicateDynamicTableEntriesAreNotAnError()
    {
        await using var client = await Http2TestClient.ConnectAsync(context => context.Response.WriteAsync(context.Request.Headers["x-dup"].ToString()));
        byte[] pseudo = Http2TestClient.RawHeaderBlock(Http2TestClient.RequestHeaders("GET", "/"));

        await client.SendRawAsync(Frame(Http2FrameType.Headers, Http2FrameFlags.EndStream | Http2FrameFlags.EndHeaders, 1,
            [.. pseudo, .. Literal(index: true, "x-dup", "same"), .. Literal(index: true, "x-dup", "same")]));
        Assert.Equal("same,same", (await client.ReadResponseAsync(1)).BodyText);

        await client.SendRawAsync(Frame(Http2FrameType.Headers, Http2FrameFlags.EndStream | Http2FrameFlags.EndHeaders, 3, [.. pseudo, 0x80 | 62, 0x80 | 63]));
        Assert.Equal("same,same", (await client.ReadResponseAsync(3)).BodyText);
    }

    /// <summary>
    /// §4.3.1: once the client has acknowledged a SETTINGS_HEADER_TABLE_SIZE below the table's current maximum (4,096
    /// until then), a field block that does not start with a Dynamic Table Size Update is a COMPRESSION_ERROR.
    /// </summary>
    [Fact]
    public async Task AfterAReducedHeaderTableSizeIsAcknowledgedTheNextBlockMustStartWithASizeUpdate()
    {
        await using var client = Http2TestClient.Start(Hello, o => o.HeaderTableSize = 0);
        await client.SendPrefaceAsync();
        await client.SendSettingsAsync();
        ReceivedFrame settings = await client.ReadFrameAsync();
        Assert.Contains(new Http2Setting(Http2SettingsParameter.HeaderTableSize, 0), settings.Settings);
        await ReadUntilAsync(client, f => f.Type == Http2FrameType.Settings && f.IsAck);

        // Not acknowledged yet: the table is still 4,096 octets and the client may add to it.
        await client.SendRawAsync(Frame(Http2FrameType.Headers, Http2FrameFlags.EndStream | Http2FrameFlags.EndHeaders, 1,
            [.. Http2TestClient.RawHeaderBlock(Http2TestClient.RequestHeaders("GET", "/")), .. Literal(index: true, "x-indexed", "1")]));
        Assert.Equal("hello", (await client.ReadResponseAsync(1)).BodyText);

        await client.SendSettingsAckAsync();
        await client.SendRawAsync(Frame(Http2FrameType.Headers, Http2FrameFlags.EndStream | Http2FrameFlags.EndHeaders, 3,
            Http2TestClient.RawHeaderBlock(Http2TestClient.RequestHeaders("GET", "/"))));

        ReceivedFrame next = await client.ReadFrameAsync();
        Assert.True(next.Type == Http2FrameType.GoAway && next.ErrorCode == Http2ErrorCode.CompressionError,
            $"a block without a size update after the acknowledged reduction must be a COMPRESSION_ERROR, but the server sent {next}");
    }

    /// <summary>
    /// RFC 7541 §6.3: a size update above the limit is a decoding error; in HTTP/2 the limit is the last
    /// SETTINGS_HEADER_TABLE_SIZE the client has acknowledged, so 4,096 until it acknowledges a larger one.
    /// </summary>
    [Fact]
    public async Task ASizeUpdateAboveTheAcknowledgedHeaderTableSizeIsACompressionError()
    {
        await using var client = Http2TestClient.Start(Hello, o => o.HeaderTableSize = 8192);
        await client.SendPrefaceAsync();
        await client.SendSettingsAsync();
        await ReadUntilAsync(client, f => f.Type == Http2FrameType.Settings && f.IsAck);

        // Our SETTINGS (8,192) is not acknowledged: the limit is still 4,096.
        byte[] sizeUpdate = new byte[8];
        int length = HpackInteger.Encode(8192, 5, 0x20, sizeUpdate);
        await client.SendRawAsync(Frame(Http2FrameType.Headers, Http2FrameFlags.EndStream | Http2FrameFlags.EndHeaders, 1,
            [.. sizeUpdate[..length], .. Http2TestClient.RawHeaderBlock(Http2TestClient.RequestHeaders("GET", "/"))]));

        ReceivedFrame next = await client.ReadFrameAsync();
        Assert.True(next.Type == Http2FrameType.GoAway && next.ErrorCode == Http2ErrorCode.CompressionError,
            $"a size update to 8,192 before the client acknowledged it must be a COMPRESSION_ERROR, but the server sent {next}");
    }

    // ---- Helpers ----

    /// <summary>A literal header field with a new name (RFC 7541 §6.2.1 with indexing, §6.2.2 without), no Huffman.</summary>
    private static byte[] Literal(bool index, string name, string value)
    {
        var bytes = new List<byte> { (byte)(index ? 0x40 : 0x00) };
        foreach (string text in new[] { name, value })
        {
            byte[] octets = Encoding.Latin1.GetBytes(text);
            byte[] length = new byte[8];
            bytes.AddRange(length[..HpackInteger.Encode(octets.Length, 7, 0, length)]);
            bytes.AddRange(octets);
        }

        return bytes.ToArray();
    }

    /// <summary>Reads frames until one matches, returning all of them (the matching one last).</summary>
    private static async Task<List<ReceivedFrame>> ReadUntilAsync(Http2TestClient client, Func<ReceivedFrame, bool> last)
    {
        var frames = new List<ReceivedFrame>();
        ReceivedFrame frame;
        do
        {
            frame = await client.ReadFrameAsync();
            frames.Add(frame);
        }
        while (!last(frame));

        return frames;
    }

    private sealed record StreamOutcome(List<List<KeyValuePair<string, string>>> FieldBlocks, byte[] Body, Http2ErrorCode? Reset);

    /// <summary>Everything a stream receives until it ends or is reset: its decoded field blocks, its body, and the reset code.</summary>
    private static async Task<StreamOutcome> ReadOutcomeAsync(Http2TestClient client, int streamId)
    {
        var blocks = new List<List<KeyValuePair<string, string>>>();
        var body = new MemoryStream();
        while (true)
        {
            ReceivedFrame frame;
            try
            {
                frame = await client.ReadFrameAsync();
            }
            catch (TimeoutException)
            {
                throw new Xunit.Sdk.XunitException(
                    $"Stream {streamId} neither ended nor was reset in time ({blocks.Count} field blocks and {body.Length} body octets so far).");
            }

            if (frame.Type == Http2FrameType.Headers)
            {
                // Every block is decoded, whatever its stream, to keep our HPACK decoder in step with the server.
                var block = new List<byte>(frame.Payload);
                ReceivedFrame last = frame;
                while ((last.Flags & Http2FrameFlags.EndHeaders) == 0)
                {
                    last = await client.ReadFrameAsync();
                    Assert.Equal(Http2FrameType.Continuation, last.Type);
                    block.AddRange(last.Payload);
                }

                List<KeyValuePair<string, string>> fields = client.DecodeHeaders(frame with { Payload = block.ToArray() });
                if (frame.StreamId == streamId)
                {
                    blocks.Add(fields);
                }
            }

            if (frame.StreamId != streamId)
            {
                continue;
            }

            if (frame.Type == Http2FrameType.RstStream)
            {
                return new StreamOutcome(blocks, body.ToArray(), frame.ErrorCode);
            }

            if (frame.Type == Http2FrameType.Data)
            {
                body.Write(frame.Payload);
            }

            if (frame.EndStream)
            {
                return new StreamOutcome(blocks, body.ToArray(), null);
            }
        }
    }

    /// <summary>
    /// Runs a handler that sets the field in its headers or its trailers, and reads what the stream receives. Once the
    /// handler is done a PING makes the serve loop write again, so that a reset it has queued goes out (see
    /// <see cref="AResponseThatCannotBeEncodedIsResetWithoutWaitingForOtherTraffic"/>).
    /// </summary>
    private static async Task<StreamOutcome> RespondWithFieldAsync(string section, string name, string value)
    {
        var handled = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var client = await Http2TestClient.ConnectAsync(async context =>
        {
            try
            {
                if (section == "header")
                {
                    context.Response.Headers[name] = value;
                }

                await context.Response.WriteAsync("body");
                if (section == "trailer")
                {
                    context.Response.AppendTrailer(name, value);
                }
            }
            finally
            {
                handled.SetResult();
            }
        });

        await client.SendGetAsync(1);
        await handled.Task.WaitAsync(Http2TestClient.DefaultTimeout);
        await client.SendPingAsync(0x5EED);
        return await ReadOutcomeAsync(client, 1);
    }

    /// <summary>§8.5: once a CONNECT stream is connected, a frame other than DATA, RST_STREAM, WINDOW_UPDATE or PRIORITY is a stream error.</summary>
    [Fact]
    public async Task HeadersOnAConnectedConnectStreamAreAStreamError()
    {
        await using var client = await Http2TestClient.ConnectAsync(async context =>
        {
            context.Response.StatusCode = 200;
            await context.Response.StartAsync();
            await new StreamReader(context.Request.Body).ReadToEndAsync();
        });

        await client.SendRawHeadersAsync(1, [new(":method", "CONNECT"), new(":authority", "example.com:443")], endStream: false);
        ReceivedFrame headers = await client.ExpectAsync(Http2FrameType.Headers, 1);
        Assert.Contains(new KeyValuePair<string, string>(":status", "200"), client.DecodeHeaders(headers));

        await client.SendRawHeadersAsync(1, [new("x-not-data", "1")], endStream: true);
        await client.ExpectAsync(Http2FrameType.RstStream, 1);
    }

    /// <summary>§8.5: on a connected CONNECT stream the server sends only DATA and stream-management frames, even when the handler sets trailers.</summary>
    [Fact]
    public async Task OnlyDataIsSentOnAConnectedConnectStream()
    {
        await using var client = await Http2TestClient.ConnectAsync(async context =>
        {
            context.Response.StatusCode = 200;
            await context.Response.WriteAsync("tunnelled");
            context.Response.AppendTrailer("x-trailer", "1");
        });

        await client.SendRawHeadersAsync(1, [new(":method", "CONNECT"), new(":authority", "example.com:443")], endStream: false);
        ReceivedFrame headers = await client.ExpectAsync(Http2FrameType.Headers, 1);
        Assert.Contains(new KeyValuePair<string, string>(":status", "200"), client.DecodeHeaders(headers));

        List<ReceivedFrame> frames = await ReadUntilAsync(client, f => f.StreamId == 1 && (f.EndStream || f.Type == Http2FrameType.RstStream));
        Assert.All(frames.Where(f => f.StreamId == 1), f => Assert.True(
            f.Type is Http2FrameType.Data or Http2FrameType.RstStream or Http2FrameType.WindowUpdate or Http2FrameType.Priority,
            $"{f} was sent on the connected stream"));
    }

    /// <summary>§6.5.2: the client's SETTINGS_MAX_HEADER_LIST_SIZE is honoured: a larger response header block is not sent.</summary>
    [Fact]
    public async Task ResponseHeadersOverTheClientsMaxHeaderListSizeAreNotSent()
    {
        await using var client = Http2TestClient.Start(context =>
        {
            context.Response.Headers["x-size"] = new string('s', context.Request.Path == "/big" ? 500 : 10);
            return context.Response.WriteAsync("body");
        });
        await client.HandshakeAsync(new Http2Setting(Http2SettingsParameter.MaxHeaderListSize, 300));

        await client.SendGetAsync(1, "/big");
        await client.ExpectRstStreamAsync(1, Http2ErrorCode.InternalError);

        await client.SendGetAsync(3, "/small");
        Assert.Equal("body", (await client.ReadResponseAsync(3)).BodyText);
    }

    /// <summary>
    /// §6.8: after GOAWAY, HEADERS on ignored streams are still decoded: an entry one of them adds to the dynamic table
    /// is there when trailers of a stream that is still served refer to it.
    /// </summary>
    [Fact]
    public async Task HeadersOnAStreamIgnoredAfterGoAwayStillFeedTheHpackTable()
    {
        await using var client = await Http2TestClient.ConnectAsync(async context =>
        {
            await context.Request.Body.CopyToAsync(Stream.Null);
            await context.Response.WriteAsync(context.Features.Get<IHttpRequestTrailersFeature>()!.Trailers["x-late"].ToString());
        });
        await client.SendPostAsync(1);
        client.Connection.RequestClose();
        ReceivedFrame final = await client.ExpectGracefulGoAwayAsync();
        Assert.Equal(1, final.LastStreamId);

        await client.SendRawAsync(Frame(Http2FrameType.Headers, Http2FrameFlags.EndStream | Http2FrameFlags.EndHeaders, 3,
            [.. Http2TestClient.RawHeaderBlock(Http2TestClient.RequestHeaders("GET", "/")), .. Literal(index: true, "x-late", "from stream 3")]));
        await client.SendRawAsync(Frame(Http2FrameType.Headers, Http2FrameFlags.EndStream | Http2FrameFlags.EndHeaders, 1, [0x80 | 62]));

        Assert.Equal("from stream 3", (await client.ReadResponseAsync(1)).BodyText);
    }

    /// <summary>§6.8 and §6.9: DATA on a stream ignored after GOAWAY still counts for the connection window, and comes back.</summary>
    [Fact]
    public async Task DataOnAStreamIgnoredAfterGoAwayCountsForTheConnectionWindow()
    {
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var client = await Http2TestClient.ConnectAsync(async _ => await release.Task, o => o.InitialConnectionWindowSize = 65_535);
        await client.SendGetAsync(1);
        client.Connection.RequestClose();
        await client.ExpectGracefulGoAwayAsync();

        await client.SendPostAsync(3);
        for (int i = 0; i < 3; i++)
        {
            await client.SendDataAsync(3, new byte[16_384], endStream: i == 2);
        }

        ReceivedFrame update = await client.ExpectAsync(Http2FrameType.WindowUpdate, 0);
        Assert.True(update.WindowSizeIncrement >= 32_768, $"the connection window came back by {update.WindowSizeIncrement}");
        release.SetResult();
    }

    /// <summary>§6.9: a DATA frame that is a stream error (beyond its stream's window) still counts for the connection window.</summary>
    [Fact]
    public async Task DataInErrorStillCountsForTheConnectionWindow()
    {
        await using var client = await Http2TestClient.ConnectAsync(
            async context => await Task.Delay(Timeout.Infinite, context.RequestAborted).ContinueWith(_ => { }),
            o =>
            {
                o.InitialStreamWindowSize = 65_535;
                o.InitialConnectionWindowSize = 131_070;
            });
        await client.SendPostAsync(1);
        for (int i = 0; i < 4; i++)
        {
            await client.SendDataAsync(1, new byte[16_384], endStream: false);
        }

        await client.ExpectRstStreamAsync(1, Http2ErrorCode.FlowControlError);
        ReceivedFrame update = await client.ExpectAsync(Http2FrameType.WindowUpdate, 0);
        Assert.Equal(4 * 16_384, update.WindowSizeIncrement);
    }
}
