using System.Text;
using H2Middleware.Frames;
using H2Middleware.Tests.ServeLoop.Harness;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core.Features;

namespace H2Middleware.Tests.ServeLoop;

public class RequestResponseTests
{
    [Fact]
    public async Task GetReturnsStatusHeadersAndBody()
    {
        await using var client = await Http2TestClient.ConnectAsync(async context =>
        {
            context.Response.ContentType = "text/plain";
            context.Response.Headers["X-Custom"] = "yes";
            await context.Response.WriteAsync("hello world");
        });

        await client.SendGetAsync(1, "/hello");
        TestResponse response = await client.ReadResponseAsync(1);

        Assert.Equal("200", response.Status);
        Assert.Equal("text/plain", response.Header("content-type"));
        Assert.Equal("yes", response.Header("x-custom"));
        Assert.NotNull(response.Header("date"));
        Assert.Equal("hello world", response.BodyText);
    }

    [Fact]
    public async Task RequestFeaturesReflectThePseudoHeaders()
    {
        string? seen = null;
        await using var client = await Http2TestClient.ConnectAsync(context =>
        {
            HttpRequest r = context.Request;
            seen = string.Join("|", r.Method, r.Scheme, r.Host.Value, r.Path.Value, r.QueryString.Value, r.Protocol,
                context.Features.Get<IHttpRequestFeature>()!.RawTarget, context.Features.Get<IHttp2StreamIdFeature>()!.StreamId,
                r.Headers["accept"].ToString(), r.Headers.Cookie.ToString());
            return Task.CompletedTask;
        });

        await client.SendGetAsync(3, "/a/b/../c%20d?x=1&y=2", true, ("accept", "text/html"), ("cookie", "a=1"), ("cookie", "b=2"));
        TestResponse response = await client.ReadResponseAsync(3);

        Assert.Equal("200", response.Status);
        Assert.Equal("GET|https|localhost|/a/c d|?x=1&y=2|HTTP/2|/a/b/../c%20d?x=1&y=2|3|text/html|a=1; b=2", seen);
    }

    /// <summary>
    /// Escapes that decode to bytes that are not UTF-8 stay escaped (as under Kestrel), the request served; an escaped
    /// NUL is refused with the stream error PROTOCOL_ERROR.
    /// </summary>
    [Theory]
    [InlineData("/a%E9b", "/a%E9b")]
    [InlineData("/x/../%C3", "/%C3")]
    [InlineData("/caf%C3%A9", "/café")]
    [InlineData("/a%00b", null)]
    public async Task PercentEscapesDecodeAsUtf8OrStayEscaped(string target, string? expectedPath)
    {
        await using var client = await Http2TestClient.ConnectAsync(context => context.Response.WriteAsync(context.Request.Path.Value!));

        await client.SendGetAsync(1, target);

        if (expectedPath is null)
        {
            await client.ExpectRstStreamAsync(1, Http2ErrorCode.ProtocolError);
        }
        else
        {
            Assert.Equal(expectedPath, (await client.ReadResponseAsync(1)).BodyText);
        }
    }

    [Fact]
    public async Task PostBodyIsEchoed()
    {
        await using var client = await Http2TestClient.ConnectAsync(async context =>
        {
            using var reader = new StreamReader(context.Request.Body);
            string body = await reader.ReadToEndAsync();
            await context.Response.WriteAsync($"{context.Request.ContentLength}:{body}");
        });

        await client.SendPostAsync(1, "/echo", ("content-length", "11"));
        await client.SendDataAsync(1, "hello ", endStream: false);
        await client.SendDataAsync(1, "world", endStream: true);
        TestResponse response = await client.ReadResponseAsync(1);

        Assert.Equal("11:hello world", response.BodyText);
    }

    [Fact]
    public async Task ResponseTrailersFollowTheBody()
    {
        await using var client = await Http2TestClient.ConnectAsync(async context =>
        {
            context.Response.DeclareTrailer("grpc-status");
            await context.Response.WriteAsync("payload");
            context.Response.AppendTrailer("grpc-status", "0");
        });

        await client.SendGetAsync(1);
        TestResponse response = await client.ReadResponseAsync(1);

        Assert.Equal("payload", response.BodyText);
        Assert.NotNull(response.Trailers);
        Assert.Contains(new KeyValuePair<string, string>("grpc-status", "0"), response.Trailers!);
    }

    /// <summary>
    /// Trailers first asked for after the response completed are as frozen as ones set before: AppendTrailer throws and
    /// the body's last DATA frame still ends the stream (the stream's window holds the body back meanwhile).
    /// </summary>
    [Fact]
    public async Task TrailersFirstTouchedAfterTheResponseCompletedCannotBeAdded()
    {
        var lateAppend = new TaskCompletionSource<Exception?>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var client = Http2TestClient.Start(async context =>
        {
            await context.Response.WriteAsync("abc");
            await context.Response.CompleteAsync();
            try
            {
                context.Response.AppendTrailer("x-late", "1");
                lateAppend.SetResult(null);
            }
            catch (Exception error)
            {
                lateAppend.SetResult(error);
            }
        });
        await client.HandshakeAsync(new Http2Setting(Http2SettingsParameter.InitialWindowSize, 0));
        await client.SendGetAsync(1);
        await client.ExpectAsync(Http2FrameType.Headers, 1);

        Assert.IsType<InvalidOperationException>(await lateAppend.Task.WaitAsync(Http2TestClient.DefaultTimeout));
        await client.SendWindowUpdateAsync(1, 1000);
        ReceivedFrame data = await client.ExpectAsync(Http2FrameType.Data, 1);
        Assert.Equal("abc", Encoding.ASCII.GetString(data.Payload));
        Assert.True(data.EndStream);
    }

    [Fact]
    public async Task RequestTrailersAreAvailableAfterTheBody()
    {
        await using var client = await Http2TestClient.ConnectAsync(async context =>
        {
            await new StreamReader(context.Request.Body).ReadToEndAsync();
            await context.Response.WriteAsync(context.Request.GetTrailer("x-checksum").ToString());
        });

        await client.SendPostAsync(1);
        await client.SendDataAsync(1, "abc", endStream: false);
        await client.SendHeadersAsync(1, [new("x-checksum", "42")], endStream: true);
        TestResponse response = await client.ReadResponseAsync(1);

        Assert.Equal("42", response.BodyText);
    }

    [Fact]
    public async Task HeadResponseHasNoBody()
    {
        await using var client = await Http2TestClient.ConnectAsync(context =>
        {
            context.Response.ContentLength = 5;
            return context.Response.WriteAsync("hello");
        });

        await client.SendHeadersAsync(1, Http2TestClient.RequestHeaders("HEAD", "/"), endStream: true);
        TestResponse response = await client.ReadResponseAsync(1);

        Assert.Equal("200", response.Status);
        Assert.Equal("5", response.Header("content-length"));
        Assert.Empty(response.Body);
    }

    [Fact]
    public async Task ExceptionBeforeTheResponseStartsBecomesA500()
    {
        await using var client = await Http2TestClient.ConnectAsync(_ => throw new InvalidOperationException("boom"));

        await client.SendGetAsync(1);
        TestResponse response = await client.ReadResponseAsync(1);

        Assert.Equal("500", response.Status);
        Assert.Empty(response.Body);
    }

    [Fact]
    public async Task ExceptionAfterTheResponseStartedResetsTheStream()
    {
        await using var client = await Http2TestClient.ConnectAsync(async context =>
        {
            await context.Response.WriteAsync("partial");
            await context.Response.Body.FlushAsync();
            throw new InvalidOperationException("boom");
        });

        await client.SendGetAsync(1);

        // Whether the flushed part goes out first is a race the handler's crash may win; the stream must never end cleanly.
        ReceivedFrame frame;
        do
        {
            frame = await client.ReadFrameAsync();
            Assert.False(frame.EndStream, "the failed response must not end normally");
        }
        while (frame.Type != Http2FrameType.RstStream);

        Assert.Equal(1, frame.StreamId);
        Assert.Equal(Http2ErrorCode.InternalError, frame.ErrorCode);
    }

    [Fact]
    public async Task ApplicationResetUsesItsErrorCode()
    {
        await using var client = await Http2TestClient.ConnectAsync(context =>
        {
            context.Features.Get<IHttpResetFeature>()!.Reset((int)Http2ErrorCode.EnhanceYourCalm);
            return Task.CompletedTask;
        });

        await client.SendGetAsync(1);
        await client.ExpectRstStreamAsync(1, Http2ErrorCode.EnhanceYourCalm);
    }

    /// <summary>A 304 may carry the Content-Length of the representation it stands for (RFC 9110 §8.6), never a body.</summary>
    [Fact]
    public async Task A304KeepsItsContentLengthAndHasNoBody()
    {
        await using var client = await Http2TestClient.ConnectAsync(context =>
        {
            context.Response.StatusCode = StatusCodes.Status304NotModified;
            context.Response.ContentLength = 100;
            return Task.CompletedTask;
        });

        await client.SendGetAsync(1);
        TestResponse response = await client.ReadResponseAsync(1);

        Assert.Equal("304", response.Status);
        Assert.Equal("100", response.Header("content-length"));
        Assert.Empty(response.Body);
    }

    /// <summary>
    /// A body that cannot match its declared Content-Length, found before any header was sent, becomes a 500 (as under
    /// Kestrel) rather than headers and a reset: nothing written at all, or too much in one write, whether that write
    /// is copied through the pipe or large enough to be sent from the handler's memory.
    /// </summary>
    [Theory]
    [InlineData(0)]
    [InlineData(200)]
    [InlineData(20_000)]
    public async Task AContentLengthMismatchFoundBeforeTheResponseStartsBecomesA500(int written)
    {
        await using var client = await Http2TestClient.ConnectAsync(async context =>
        {
            context.Response.ContentLength = written == 0 ? 10 : 100;
            if (written > 0)
            {
                await context.Response.Body.WriteAsync(new byte[written]);
            }
        });

        await client.SendGetAsync(1);
        TestResponse response = await client.ReadResponseAsync(1);

        Assert.Equal("500", response.Status);
        Assert.Empty(response.Body);
    }

    /// <summary>
    /// An OnStarting callback that throws loses the response, as under Kestrel: the rest of the callbacks do not run,
    /// a later write fails too, and the client gets a 500 without anything the handler set.
    /// </summary>
    [Fact]
    public async Task AFailedOnStartingLosesTheResponseEvenWhenTheHandlerCarriesOn()
    {
        var writes = new TaskCompletionSource<(Exception? First, Exception? Second)>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var client = await Http2TestClient.ConnectAsync(async context =>
        {
            context.Response.OnStarting(() =>
            {
                context.Response.Headers["x-late"] = "1";
                return Task.CompletedTask;
            });
            context.Response.OnStarting(() => throw new InvalidOperationException("OnStarting failed"));
            Exception? first = null;
            Exception? second = null;
            try
            {
                await context.Response.WriteAsync("a");
            }
            catch (Exception error)
            {
                first = error;
            }

            try
            {
                await context.Response.WriteAsync("b");
            }
            catch (Exception error)
            {
                second = error;
            }

            writes.SetResult((first, second));
        });

        await client.SendGetAsync(1);
        TestResponse response = await client.ReadResponseAsync(1);

        (Exception? firstWrite, Exception? secondWrite) = await writes.Task;
        Assert.Equal("OnStarting failed", Assert.IsType<InvalidOperationException>(firstWrite).Message);
        Assert.IsType<ObjectDisposedException>(secondWrite);
        Assert.Equal("500", response.Status);
        Assert.Null(response.Header("x-late"));
        Assert.Empty(response.Body);
    }

    /// <summary>
    /// A write's own CancellationToken ends it when the client does not take the bytes, whatever the write's size (large
    /// ones are otherwise sent from the handler's memory, and end only once sent or abandoned).
    /// </summary>
    [Theory]
    [InlineData(4 * 1024)]
    [InlineData(64 * 1024)]
    public async Task AWriteToAClientThatTakesNothingEndsWhenItsTokenIsCancelled(int writeSize)
    {
        var outcome = new TaskCompletionSource<Exception?>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var client = await Http2TestClient.ConnectAsync(async context =>
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromMilliseconds(300));
            try
            {
                for (int written = 0; written < 8 * 1024 * 1024; written += writeSize)
                {
                    await context.Response.Body.WriteAsync(new byte[writeSize], timeout.Token);
                }

                outcome.SetResult(null);
            }
            catch (Exception error)
            {
                outcome.SetResult(error);
            }
        });

        // No WINDOW_UPDATE: the stream's window stops the response after 64 KiB.
        await client.SendGetAsync(1);

        Assert.IsAssignableFrom<OperationCanceledException>(await outcome.Task.WaitAsync(Http2TestClient.DefaultTimeout));
    }

    [Fact]
    public async Task ContentLengthShorterThanTheBodyIsAStreamProtocolError()
    {
        await using var client = await Http2TestClient.ConnectAsync(async context =>
        {
            await new StreamReader(context.Request.Body).ReadToEndAsync();
        });

        await client.SendPostAsync(1, "/", ("content-length", "2"));
        await client.SendDataAsync(1, "abc", endStream: true);
        await client.ExpectRstStreamAsync(1, Http2ErrorCode.ProtocolError);
    }

    [Fact]
    public async Task ContentLengthLongerThanTheBodyIsAStreamProtocolError()
    {
        await using var client = await Http2TestClient.ConnectAsync(async context =>
        {
            await new StreamReader(context.Request.Body).ReadToEndAsync();
        });

        await client.SendPostAsync(1, "/", ("content-length", "10"));
        await client.SendDataAsync(1, "abc", endStream: true);
        await client.ExpectRstStreamAsync(1, Http2ErrorCode.ProtocolError);
    }

    [Fact]
    public async Task ManyConcurrentStreamsAllComplete()
    {
        await using var client = await Http2TestClient.ConnectAsync(async context =>
        {
            await Task.Yield();
            await context.Response.WriteAsync(context.Request.Path.Value!);
        });

        var streamIds = Enumerable.Range(0, 50).Select(i => 1 + (2 * i)).ToArray();
        foreach (int id in streamIds)
        {
            await client.SendGetAsync(id, $"/s{id}");
        }

        var bodies = new Dictionary<int, StringBuilder>();
        var ended = new HashSet<int>();
        while (ended.Count < streamIds.Length)
        {
            ReceivedFrame frame = await client.ReadFrameAsync();
            if (frame.Type == Http2FrameType.Data)
            {
                (bodies.TryGetValue(frame.StreamId, out var b) ? b : bodies[frame.StreamId] = new StringBuilder()).Append(Encoding.UTF8.GetString(frame.Payload));
            }
            else if (frame.Type == Http2FrameType.Headers)
            {
                client.DecodeHeaders(frame);
            }

            if (frame.EndStream)
            {
                ended.Add(frame.StreamId);
            }
        }

        foreach (int id in streamIds)
        {
            Assert.Equal($"/s{id}", bodies[id].ToString());
        }
    }

    [Fact]
    public async Task ClientResetFiresRequestAborted()
    {
        var aborted = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var client = await Http2TestClient.ConnectAsync(async context =>
        {
            context.RequestAborted.Register(() => aborted.TrySetResult());
            started.SetResult();
            await aborted.Task;
        });

        await client.SendGetAsync(1);
        await started.Task.WaitAsync(Http2TestClient.DefaultTimeout);
        await client.SendRstStreamAsync(1, Http2ErrorCode.Cancel);
        await aborted.Task.WaitAsync(Http2TestClient.DefaultTimeout);
    }

    [Fact]
    public async Task TheConnectionGoingAwayFiresRequestAborted()
    {
        var aborted = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var client = await Http2TestClient.ConnectAsync(async context =>
        {
            context.RequestAborted.Register(() => aborted.TrySetResult());
            started.SetResult();
            await aborted.Task;
        });

        await client.SendGetAsync(1);
        await started.Task.WaitAsync(Http2TestClient.DefaultTimeout);
        await client.CloseSendingAsync();

        await aborted.Task.WaitAsync(Http2TestClient.DefaultTimeout);
        await client.ExpectConnectionClosedAsync();
    }

    [Fact]
    public async Task OversizedHeaderListIsAnsweredWith431()
    {
        bool handlerRan = false;
        await using var client = await Http2TestClient.ConnectAsync(
            _ =>
            {
                handlerRan = true;
                return Task.CompletedTask;
            },
            o => o.MaxRequestHeaderListSize = 2048);

        client.MaxFrameSize = 16_384;
        await client.SendGetAsync(1, "/", true, ("x-big", new string('a', 4000)));
        TestResponse response = await client.ReadResponseAsync(1);

        Assert.Equal("431", response.Status);
        Assert.False(handlerRan);

        await client.SendGetAsync(3, "/");
        Assert.Equal("200", (await client.ReadResponseAsync(3)).Status);
    }

    [Fact]
    public async Task LargeResponseHeadersAreSplitIntoContinuationFrames()
    {
        await using var client = await Http2TestClient.ConnectAsync(context =>
        {
            for (int i = 0; i < 8; i++)
            {
                context.Response.Headers[$"x-big-{i}"] = new string((char)('a' + i), 4000);
            }

            return context.Response.WriteAsync("ok");
        });

        await client.SendGetAsync(1);
        ReceivedFrame headers = await client.ExpectAsync(Http2FrameType.Headers, 1);
        Assert.False((headers.Flags & Http2FrameFlags.EndHeaders) != 0);
        var block = new List<byte>(headers.Payload);
        ReceivedFrame continuation;
        do
        {
            continuation = await client.ExpectAsync(Http2FrameType.Continuation, 1);
            block.AddRange(continuation.Payload);
        }
        while ((continuation.Flags & Http2FrameFlags.EndHeaders) == 0);

        List<KeyValuePair<string, string>> fields = client.DecodeHeaders(headers with { Payload = block.ToArray() });
        Assert.Equal(new string('h', 4000), fields.Single(f => f.Key == "x-big-7").Value);
        Assert.Equal("ok", System.Text.Encoding.ASCII.GetString((await client.ExpectAsync(Http2FrameType.Data, 1)).Payload));
    }

    [Fact]
    public async Task PeerHeaderTableSizeZeroIsHonoured()
    {
        await using var client = Http2TestClient.Start(context =>
        {
            context.Response.Headers["x-repeat"] = "same-value";
            return context.Response.WriteAsync("ok");
        });
        await client.HandshakeAsync(new Http2Setting(Http2SettingsParameter.HeaderTableSize, 0));

        for (int id = 1; id <= 5; id += 2)
        {
            await client.SendGetAsync(id);
            ReceivedFrame headers = await client.ExpectAsync(Http2FrameType.Headers, id);
            if (id == 1)
            {
                Assert.Equal(0x20, headers.Payload[0]);
            }

            Assert.Contains(new KeyValuePair<string, string>("x-repeat", "same-value"), client.DecodeHeaders(headers));
            // The body may end in its own empty DATA frame when the handler completes after the body went out.
            while (!(await client.ExpectAsync(Http2FrameType.Data, id)).EndStream)
            {
            }
        }

        Assert.Equal(0, client.DecoderDynamicTableCount);
    }
}
