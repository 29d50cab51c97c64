using System.Collections.Concurrent;
using System.Text;
using H2Middleware.Frames;
using H2Middleware.Hpack;
using H2Middleware.Tests.ServeLoop.Harness;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using static H2Middleware.Tests.ServeLoop.StreamStateTests;

namespace H2Middleware.Tests.ServeLoop;

/// <summary>RFC 9113 §5 (stream states, errors), §6 (HEADERS, CONTINUATION, SETTINGS, PING, flow control), §7 and §8 (fields, CONNECT).</summary>
public partial class RfcMustTests
{
    // ---- §5.1 Stream states, §5.4 error handling, §5.5 extensions ----

    /// <summary>
    /// §5.1: on an idle stream only HEADERS and PRIORITY may arrive. Even-numbered streams belong to the server, which
    /// never opens one, so they stay idle whatever odd streams the client has opened (§5.1.1 closes only the peer's).
    /// </summary>
    [Theory]
    [InlineData("DATA")]
    [InlineData("WINDOW_UPDATE")]
    [InlineData("RST_STREAM")]
    public async Task AFrameOnAnIdleServerStreamIsAConnectionProtocolError(string type)
    {
        await using var client = await Http2TestClient.ConnectAsync(Hello);
        await client.SendGetAsync(3);
        await client.ReadResponseAsync(3);

        switch (type)
        {
            case "DATA":
                await client.SendDataAsync(2, "x", endStream: true);
                break;
            case "WINDOW_UPDATE":
                await client.SendWindowUpdateAsync(2, 100);
                break;
            default:
                await client.SendRstStreamAsync(2, Http2ErrorCode.Cancel);
                break;
        }

        await client.SendPingAsync(9);
        ReceivedFrame next = await client.ReadFrameAsync();
        Assert.True(next.Type == Http2FrameType.GoAway && next.ErrorCode == Http2ErrorCode.ProtocolError,
            $"{type} on idle stream 2 must be a connection PROTOCOL_ERROR, but the server sent {next}");
    }

    /// <summary>
    /// §6.4: RST_STREAM is never sent for an idle stream. A stream error found on an idle stream (§6.3 PRIORITY length,
    /// §6.9 zero increment) must therefore become a connection error, or be ignored where no error applies.
    /// </summary>
    [Theory]
    [InlineData("PRIORITY of length 4")]
    [InlineData("PRIORITY depending on itself")]
    [InlineData("WINDOW_UPDATE of 0")]
    public async Task NoRstStreamIsSentForAnIdleStream(string frame)
    {
        await using var client = await Http2TestClient.ConnectAsync(Hello);
        byte[] bytes = frame switch
        {
            "PRIORITY of length 4" => Frame(Http2FrameType.Priority, Http2FrameFlags.None, 9, [0, 0, 0, 1]),
            "PRIORITY depending on itself" => Frame(Http2FrameType.Priority, Http2FrameFlags.None, 9, [0, 0, 0, 9, 15]),
            _ => Frame(Http2FrameType.WindowUpdate, Http2FrameFlags.None, 9, [0, 0, 0, 0]),
        };
        await client.SendRawAsync(bytes);
        await client.SendPingAsync(9);

        ReceivedFrame next = await client.ReadFrameAsync();
        Assert.False(next.Type == Http2FrameType.RstStream && next.StreamId == 9, $"{frame} on idle stream 9 was answered with {next}");
    }

    /// <summary>
    /// §5.3.1: a stream cannot depend on itself, and that holds for the priority fields of a HEADERS frame that carries
    /// trailers as for one that opens the stream: the stream error PROTOCOL_ERROR, and the handler sees a reset request.
    /// </summary>
    [Fact]
    public async Task TrailersWhosePriorityNamesTheirOwnStreamResetIt()
    {
        var bodyRead = new TaskCompletionSource<Exception?>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var client = await Http2TestClient.ConnectAsync(async context =>
        {
            try
            {
                await context.Request.Body.CopyToAsync(Stream.Null);
                bodyRead.TrySetResult(null);
            }
            catch (Exception e)
            {
                bodyRead.TrySetResult(e);
            }
        });
        await client.SendPostAsync(1);
        byte[] block = client.EncodeHeaderBlock([new("x-trailer", "1")]);
        byte[] payload = [0, 0, 0, 1, 15, .. block];
        await client.SendRawAsync(Frame(Http2FrameType.Headers, Http2FrameFlags.EndStream | Http2FrameFlags.EndHeaders | Http2FrameFlags.Priority, 1, payload));

        await client.ExpectRstStreamAsync(1, Http2ErrorCode.ProtocolError);
        Assert.NotNull(await bodyRead.Task.WaitAsync(TimeSpan.FromSeconds(10)));
    }

    /// <summary>
    /// §5.1: frames on a stream the server reset are ignored, and so are malformed ones that would otherwise be a stream
    /// error (§6.3 PRIORITY length, §6.9 zero increment): no second RST_STREAM.
    /// </summary>
    [Theory]
    [InlineData("PRIORITY of length 4")]
    [InlineData("WINDOW_UPDATE of 0")]
    public async Task MalformedFramesOnAStreamTheServerResetAreIgnored(string frame)
    {
        await using var client = await Http2TestClient.ConnectAsync(context =>
        {
            context.Features.Get<IHttpResetFeature>()!.Reset((int)Http2ErrorCode.Cancel);
            return Task.CompletedTask;
        });
        await client.SendGetAsync(1, endStream: false);
        await client.ExpectRstStreamAsync(1, Http2ErrorCode.Cancel);

        await client.SendRawAsync(frame == "WINDOW_UPDATE of 0"
            ? Frame(Http2FrameType.WindowUpdate, Http2FrameFlags.None, 1, [0, 0, 0, 0])
            : Frame(Http2FrameType.Priority, Http2FrameFlags.None, 1, [0, 0, 0, 0]));
        await client.SendPingAsync(7);
        ReceivedFrame next = await client.ReadFrameAsync();
        Assert.True(next.Type == Http2FrameType.Ping && next.IsAck, $"{frame} on the reset stream 1 was answered with {next}");
    }

    /// <summary>
    /// §6.4 and §5.1: after the client resets a stream the server sends nothing more on it, even when its handler
    /// still writes; §5.4.2: and never a RST_STREAM in response to the RST_STREAM.
    /// </summary>
    [Fact]
    public async Task AfterTheClientResetsAStreamTheServerSendsNothingMoreOnIt()
    {
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var finished = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var client = await Http2TestClient.ConnectAsync(async context =>
        {
            if (context.Request.Path != "/wait")
            {
                await context.Response.WriteAsync("hello");
                return;
            }

            try
            {
                var aborted = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                using var registration = context.RequestAborted.Register(() => aborted.TrySetResult());
                started.SetResult();
                await aborted.Task.WaitAsync(Http2TestClient.DefaultTimeout);
                try
                {
                    await context.Response.WriteAsync("too late").WaitAsync(TimeSpan.FromSeconds(2));
                }
                catch (Exception)
                {
                    // The stream is gone; a handler may or may not be told so when it writes.
                }
            }
            finally
            {
                finished.SetResult();
            }
        });

        await client.SendGetAsync(1, "/wait");
        await started.Task.WaitAsync(Http2TestClient.DefaultTimeout);
        await client.SendRstStreamAsync(1, Http2ErrorCode.Cancel);
        await finished.Task.WaitAsync(Http2TestClient.DefaultTimeout);

        await client.SendPingAsync(7);
        ReceivedFrame next = await client.ReadFrameAsync();
        Assert.True(next.Type == Http2FrameType.Ping && next.IsAck, $"expected only the PING acknowledgement, got {next}");

        await client.SendGetAsync(3);
        List<ReceivedFrame> frames = await ReadUntilAsync(client, f => f.StreamId == 3 && f.EndStream);
        Assert.DoesNotContain(frames, f => f.StreamId == 1);
    }

    /// <summary>
    /// §5.4.2: a stream error is signalled with RST_STREAM. A response whose header section cannot be encoded is
    /// reset; the reset must go out by itself, not wait until some other frame gives the serve loop a reason to write.
    /// </summary>
    [Fact]
    public async Task AResponseThatCannotBeEncodedIsResetWithoutWaitingForOtherTraffic()
    {
        await using var client = await Http2TestClient.ConnectAsync(context =>
        {
            context.Response.Headers["x y"] = "v";
            return Task.CompletedTask;
        });

        await client.SendGetAsync(1);
        StreamOutcome outcome = await ReadOutcomeAsync(client, 1);
        Assert.Equal(Http2ErrorCode.InternalError, outcome.Reset);
    }

    /// <summary>§5.5: an extension frame in the middle of a field block is a connection error of type PROTOCOL_ERROR.</summary>
    [Fact]
    public async Task AnUnknownFrameInsideAFieldBlockIsAConnectionProtocolError()
    {
        await using var client = await Http2TestClient.ConnectAsync(Hello);
        byte[] block = client.EncodeHeaderBlock(Http2TestClient.RequestHeaders("GET", "/"));
        await client.SendRawAsync(Frame(Http2FrameType.Headers, Http2FrameFlags.EndStream, 1, block[..2]));
        await client.SendRawAsync(Frame((Http2FrameType)0xAA, Http2FrameFlags.None, 0, [1, 2, 3]));
        await client.ExpectGoAwayAsync(Http2ErrorCode.ProtocolError);
        await client.ExpectConnectionClosedAsync();
    }

    // ---- §6.2, §6.10 HEADERS and CONTINUATION ----

    /// <summary>§6.2 and §6.10: the frame after a HEADERS or CONTINUATION without END_HEADERS must be a CONTINUATION of the same stream.</summary>
    [Theory]
    [InlineData("CONTINUATION on another stream")]
    [InlineData("DATA after a CONTINUATION without END_HEADERS")]
    public async Task AnInterruptedFieldBlockIsAConnectionProtocolError(string interruption)
    {
        await using var client = await Http2TestClient.ConnectAsync(Hello);
        byte[] block = client.EncodeHeaderBlock(Http2TestClient.RequestHeaders("GET", "/"));
        await client.SendRawAsync(Frame(Http2FrameType.Headers, Http2FrameFlags.None, 1, block[..2]));
        if (interruption == "CONTINUATION on another stream")
        {
            await client.SendRawAsync(Frame(Http2FrameType.Continuation, Http2FrameFlags.EndHeaders, 3, block[2..]));
        }
        else
        {
            await client.SendRawAsync(Frame(Http2FrameType.Continuation, Http2FrameFlags.None, 1, block[2..3]));
            await client.SendDataAsync(1, "x", endStream: true);
        }

        await client.ExpectGoAwayAsync(Http2ErrorCode.ProtocolError);
        await client.ExpectConnectionClosedAsync();
    }

    /// <summary>§6.10: a CONTINUATION must follow a HEADERS, PUSH_PROMISE or CONTINUATION without END_HEADERS.</summary>
    [Fact]
    public async Task ContinuationAfterACompleteFieldBlockIsAConnectionProtocolError()
    {
        await using var client = await Http2TestClient.ConnectAsync(async context => await new StreamReader(context.Request.Body).ReadToEndAsync());
        await client.SendPostAsync(1);
        await client.SendRawAsync(Frame(Http2FrameType.Continuation, Http2FrameFlags.EndHeaders, 1, Literal(index: false, "x-late", "1")));
        await client.ExpectGoAwayAsync(Http2ErrorCode.ProtocolError);
        await client.ExpectConnectionClosedAsync();
    }

    // ---- §6.5 SETTINGS ----

    /// <summary>§6.5.2: a server that sends SETTINGS_ENABLE_PUSH sends 0, never 1.</summary>
    [Fact]
    public async Task ServerSettingsNeverEnablePush()
    {
        await using var client = Http2TestClient.Start(Hello);
        await client.SendPrefaceAsync();
        ReceivedFrame settings = await client.ReadFrameAsync();
        Assert.Equal(Http2FrameType.Settings, settings.Type);
        Assert.DoesNotContain(settings.Settings, s => s.Parameter == Http2SettingsParameter.EnablePush && s.Value != 0);
    }

    /// <summary>§6.5: every defined setting is supported; the client's SETTINGS_ENABLE_PUSH of 0 or 1 is accepted (it limits only pushes).</summary>
    [Theory]
    [InlineData(0u)]
    [InlineData(1u)]
    public async Task AValidEnablePushFromTheClientIsAccepted(uint value)
    {
        await using var client = Http2TestClient.Start(Hello);
        await client.HandshakeAsync(new Http2Setting(Http2SettingsParameter.EnablePush, value));
        await client.SendGetAsync(1);
        Assert.Equal("hello", (await client.ReadResponseAsync(1)).BodyText);
    }

    /// <summary>§6.5.2: the SETTINGS_MAX_FRAME_SIZE we advertise must lie between 16,384 and 16,777,215.</summary>
    [Theory]
    [InlineData(16_383)]
    [InlineData(16_777_216)]
    public void AnAdvertisedMaxFrameSizeOutsideTheRfcRangeIsRefused(int maxFrameSize)
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new Http2ServeLoopOptions { MaxFrameSize = maxFrameSize }.Validate());
        new Http2ServeLoopOptions { MaxFrameSize = 16_384 }.Validate();
        new Http2ServeLoopOptions { MaxFrameSize = 16_777_215 }.Validate();
    }

    /// <summary>§6.5.3: the values of a SETTINGS frame are processed in order, so the last of a repeated setting wins.</summary>
    [Fact]
    public async Task SettingsValuesAreProcessedInTheOrderTheyAppear()
    {
        await using var client = Http2TestClient.Start(context => context.Response.WriteAsync(new string('x', 100)));
        await client.HandshakeAsync(
            new Http2Setting(Http2SettingsParameter.InitialWindowSize, 10),
            new Http2Setting(Http2SettingsParameter.InitialWindowSize, 30));
        await client.SendGetAsync(1);
        await client.ExpectAsync(Http2FrameType.Headers, 1);
        Assert.Equal(30, (await client.ExpectAsync(Http2FrameType.Data, 1)).Payload.Length);
    }

    /// <summary>§6.5.2, §6.5.3 and §5.5: an unknown setting is ignored; the rest of the frame still applies.</summary>
    [Fact]
    public async Task UnknownSettingsAreIgnored()
    {
        await using var client = Http2TestClient.Start(context => context.Response.WriteAsync(new string('x', 100)));
        await client.HandshakeAsync(
            new Http2Setting((Http2SettingsParameter)0x4242, 7),
            new Http2Setting(Http2SettingsParameter.InitialWindowSize, 30),
            new Http2Setting((Http2SettingsParameter)0xFFFF, uint.MaxValue));
        await client.SendGetAsync(1);
        await client.ExpectAsync(Http2FrameType.Headers, 1);
        Assert.Equal(30, (await client.ExpectAsync(Http2FrameType.Data, 1)).Payload.Length);
    }

    // ---- §6.7 PING ----

    /// <summary>§6.7: a PING carrying the ACK flag is never answered.</summary>
    [Fact]
    public async Task APingAcknowledgementIsNotAnswered()
    {
        await using var client = await Http2TestClient.ConnectAsync(Hello);
        await client.SendPingAsync(1, ack: true);
        await client.SendPingAsync(2);
        ReceivedFrame next = await client.ReadFrameAsync();
        Assert.Equal(Http2FrameType.Ping, next.Type);
        Assert.True(next.IsAck);
        Assert.Equal(2UL, next.PingData);
    }

    // ---- §6.9 Flow control ----

    /// <summary>§6.9: frames that are not flow-controlled are accepted and processed while both receive windows are empty.</summary>
    [Fact]
    public async Task FramesExemptFromFlowControlAreProcessedWhenTheReceiveWindowsAreEmpty()
    {
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var client = await Http2TestClient.ConnectAsync(
            async context =>
            {
                if (context.Request.Path == "/upload")
                {
                    await release.Task;
                    return;
                }

                await context.Response.WriteAsync("hello");
            },
            o =>
            {
                o.InitialStreamWindowSize = 65_535;
                o.InitialConnectionWindowSize = 65_535;
            });

        await client.SendPostAsync(1, "/upload");
        for (int i = 0; i < 3; i++)
        {
            await client.SendDataAsync(1, new byte[16_384], endStream: false);
        }

        await client.SendDataAsync(1, new byte[16_383], endStream: false);

        await client.SendPingAsync(4);
        Assert.Equal(4UL, (await client.ExpectAsync(Http2FrameType.Ping, 0)).PingData);
        await client.SendSettingsAsync();
        Assert.True((await client.ExpectAsync(Http2FrameType.Settings, 0)).IsAck);
        await client.SendGetAsync(3);
        Assert.Equal("hello", (await client.ReadResponseAsync(3)).BodyText);
        release.SetResult();
    }

    // ---- §7 Error codes ----

    /// <summary>§7: an unknown error code triggers no special behaviour: the stream is cancelled and the connection goes on.</summary>
    [Fact]
    public async Task AnUnknownErrorCodeInRstStreamIsTreatedLikeAnyOther()
    {
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var aborted = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var client = await Http2TestClient.ConnectAsync(async context =>
        {
            if (context.Request.Path == "/wait")
            {
                context.RequestAborted.Register(() => aborted.TrySetResult());
                started.SetResult();
                await aborted.Task;
                return;
            }

            await context.Response.WriteAsync("hello");
        });

        await client.SendGetAsync(1, "/wait");
        await started.Task.WaitAsync(Http2TestClient.DefaultTimeout);
        await client.SendRstStreamAsync(1, (Http2ErrorCode)0xDEAD);
        await aborted.Task.WaitAsync(Http2TestClient.DefaultTimeout);

        await client.SendPingAsync(3);
        ReceivedFrame next = await client.ReadFrameAsync();
        Assert.True(next.Type == Http2FrameType.Ping && next.IsAck, $"expected only the PING acknowledgement, got {next}");
        await client.SendGetAsync(3);
        Assert.Equal("hello", (await client.ReadResponseAsync(3)).BodyText);
    }

    // ---- §8.2 Fields ----

    public static TheoryData<string, string[]> MoreMalformedRequests => new()
    {
        { "NUL in a value", ["x-a", "a\0b"] },
        { "CR in a value", ["x-a", "a\rb"] },
        { "trailing space in a value", ["x-a", "a "] },
        { "leading tab in a value", ["x-a", "\ta"] },
        { "trailing tab in a value", ["x-a", "a\t"] },
        { "control character in a name", ["x\u0001a", "1"] },
        { "DEL in a name", ["x\u007Fa", "1"] },
        { "octet above 0x7F in a name", ["x\u00E9", "1"] },
        { "colon inside a regular name", ["x:a", "1"] },
        { "proxy-connection", ["proxy-connection", "keep-alive"] },
        { ":method that is not a token", [":method", "GE T"] },
    };

    /// <summary>
    /// §8.2.1 and §8.2.2 (the cases RequestHeaderValidationTests does not list), §8.3.1 (:method must be valid):
    /// a malformed request is a stream error of type PROTOCOL_ERROR and never reaches the handler (§8.1.1).
    /// </summary>
    [Theory]
    [MemberData(nameof(MoreMalformedRequests))]
    public async Task MalformedRequestIsResetWithProtocolError(string why, string[] field)
    {
        bool handlerRan = false;
        await using var client = await Http2TestClient.ConnectAsync(context =>
        {
            handlerRan = true;
            return context.Response.WriteAsync("ok");
        });

        List<KeyValuePair<string, string>> headers = field[0] == ":method"
            ? [new(":method", field[1]), new(":scheme", "https"), new(":path", "/")]
            : [new(":method", "GET"), new(":scheme", "https"), new(":path", "/"), new(field[0], field[1])];
        await client.SendRawHeadersAsync(1, headers, endStream: true);
        await client.ExpectRstStreamAsync(1, Http2ErrorCode.ProtocolError);
        Assert.False(handlerRan, why);

        await client.SendGetAsync(3);
        Assert.Equal("ok", (await client.ReadResponseAsync(3)).BodyText);
    }

    /// <summary>§8.2.2: the server never generates connection-specific header fields, whatever the handler sets.</summary>
    [Fact]
    public async Task ConnectionSpecificResponseFieldsAreNotSent()
    {
        string[] names = ["Connection", "Keep-Alive", "Proxy-Connection", "Transfer-Encoding", "Upgrade"];
        await using var client = await Http2TestClient.ConnectAsync(context =>
        {
            foreach (string name in names)
            {
                context.Response.Headers[name] = "x";
            }

            return context.Response.WriteAsync("ok");
        });

        await client.SendGetAsync(1);
        TestResponse response = await client.ReadResponseAsync(1);

        Assert.Equal("ok", response.BodyText);
        Assert.All(names, name => Assert.DoesNotContain(response.Headers, f => f.Key.Equals(name, StringComparison.OrdinalIgnoreCase)));
    }

    /// <summary>
    /// §8.3 and §8.3.2: a response carries exactly one pseudo-header field, :status, before every regular field, and
    /// its trailers carry none.
    /// </summary>
    [Fact]
    public async Task ResponsesStartWithTheirOnlyStatusAndTrailersHaveNoPseudoFields()
    {
        await using var client = await Http2TestClient.ConnectAsync(async context =>
        {
            context.Response.Headers["x-first"] = "1";
            context.Response.StatusCode = 201;
            await context.Response.WriteAsync("body");
            context.Response.AppendTrailer("x-trailer", "1");
        });

        await client.SendGetAsync(1);
        TestResponse response = await client.ReadResponseAsync(1);

        Assert.Equal(new KeyValuePair<string, string>(":status", "201"), response.Headers[0]);
        Assert.Single(response.Headers, f => f.Key.StartsWith(':'));
        Assert.NotNull(response.Trailers);
        Assert.DoesNotContain(response.Trailers!, f => f.Key.StartsWith(':'));
    }

    /// <summary>
    /// §8.3: no pseudo-header field other than :status is generated, none appears in trailers; §8.2.1: no name with a
    /// colon or a space. A handler that sets such a field gets its stream reset instead.
    /// </summary>
    [Theory]
    [InlineData("header", ":path")]
    [InlineData("header", ":custom")]
    [InlineData("header", ":status")]
    [InlineData("header", "x:y")]
    [InlineData("header", "x y")]
    [InlineData("trailer", ":status")]
    [InlineData("trailer", ":authority")]
    public async Task InvalidResponseFieldNamesNeverReachTheWire(string section, string name)
    {
        StreamOutcome outcome = await RespondWithFieldAsync(section, name, "v");

        foreach (List<KeyValuePair<string, string>> block in outcome.FieldBlocks)
        {
            Assert.DoesNotContain(block, f => f.Key == name && f.Value == "v");
            Assert.All(block.Skip(1), f => Assert.False(f.Key.StartsWith(':'), $"{f.Key} after the first field"));
        }

        Assert.All(outcome.FieldBlocks.Skip(1), block => Assert.DoesNotContain(block, f => f.Key.StartsWith(':')));
    }

    /// <summary>§8.2.1: no response field value contains NUL, CR or LF; a handler that sets one gets its stream reset instead.</summary>
    [Theory]
    [InlineData("header", "a\r\nb")]
    [InlineData("header", "a\0b")]
    [InlineData("trailer", "a\nb")]
    public async Task ResponseValuesWithNulCrOrLfNeverReachTheWire(string section, string value)
    {
        StreamOutcome outcome = await RespondWithFieldAsync(section, "x-field", value);
        Assert.All(outcome.FieldBlocks.SelectMany(block => block), f => Assert.False(f.Value.AsSpan().IndexOfAny('\0', '\r', '\n') >= 0, $"{f.Key} was sent with a forbidden character"));
    }

    /// <summary>§8.2.1: no response field value starts or ends with a space or a tab.</summary>
    [Theory]
    [InlineData("header", " padded")]
    [InlineData("header", "padded\t")]
    [InlineData("trailer", "padded ")]
    public async Task ResponseValuesWithSurroundingWhitespaceNeverReachTheWire(string section, string value)
    {
        StreamOutcome outcome = await RespondWithFieldAsync(section, "x-field", value);
        Assert.All(outcome.FieldBlocks.SelectMany(block => block), f => Assert.False(
            f.Value.Length > 0 && (f.Value[0] is ' ' or '\t' || f.Value[^1] is ' ' or '\t'),
            $"{f.Key}: \"{f.Value}\" was sent with surrounding whitespace"));
    }

    /// <summary>§8.3.1: with :authority present the Host header field does not determine the target.</summary>
    [Fact]
    public async Task TheHostHeaderDoesNotOverrideAuthority()
    {
        await using var client = await Http2TestClient.ConnectAsync(context =>
            context.Response.WriteAsync($"{context.Request.Host.Value}|{context.Request.Headers.Host}"));

        await client.SendGetAsync(1, "/", true, ("host", "elsewhere.example"));
        StreamOutcome outcome = await ReadOutcomeAsync(client, 1);

        // §8.3.1 also lets a server treat the mismatch as malformed; what it may not do is serve elsewhere.example.
        if (outcome.Reset is null)
        {
            Assert.Equal("localhost|localhost", Encoding.UTF8.GetString(outcome.Body));
        }
        else
        {
            Assert.Equal(Http2ErrorCode.ProtocolError, outcome.Reset);
        }
    }

    // ---- §8.5 CONNECT, §8.7 request reliability ----

    /// <summary>§8.7: REFUSED_STREAM means unprocessed: a refused stream's request never reaches the application.</summary>
    [Fact]
    public async Task ARefusedStreamNeverReachesTheApplication()
    {
        var seen = new ConcurrentQueue<string>();
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var client = await Http2TestClient.ConnectAsync(
            async context =>
            {
                seen.Enqueue(context.Request.Path.Value!);
                if (context.Request.Path == "/first")
                {
                    await release.Task;
                }

                await context.Response.WriteAsync("ok");
            },
            o => o.MaxStreamsPerConnection = 1);

        await client.SendGetAsync(1, "/first");
        await client.SendGetAsync(3, "/refused");
        await client.ExpectRstStreamAsync(3, Http2ErrorCode.RefusedStream);
        release.SetResult();
        Assert.Equal("ok", (await client.ReadResponseAsync(1)).BodyText);
        await client.SendPingAsync(1);
        await client.ExpectAsync(Http2FrameType.Ping, 0);

        Assert.Equal(["/first"], seen);
    }
}
