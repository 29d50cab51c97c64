using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace H2Middleware.Tests.EndToEnd;

/// <summary>
/// Realistic large request and response bodies through real Kestrel sockets, HttpClient to ASP.NET Core handlers that
/// read them the ways applications do: a PipeReader that examines before it consumes, forms, JSON, slow readers, and
/// the engine's flow-control windows at their smallest and largest. Every exchange is bounded by
/// <see cref="HangGuard"/>, so a flow-control stall fails with how far the upload got instead of stalling the suite.
/// </summary>
public class LargeMessageTests
{
    private const int ExamineThreshold = 3 * LargePayload.MiB;
    private const int SlowReadPauseEvery = 64 * LargePayload.KiB;
    private const int SlowReadPauseMilliseconds = 10;
    private const int FormFileLength = 5_000_000;
    private const int JsonRecordCount = 50_000;
    private const int JsonBlobLength = 3_750_000;

    public enum SlowReader
    {
        Stream,
        Pipe,
    }

    private static void MapEndpoints(WebApplication app)
    {
        // Examines everything and consumes nothing until 3 MiB sit in the reader, then consumes all and reads on.
        app.MapPost("/examine-then-consume", async (HttpContext context) =>
        {
            PipeReader reader = context.Request.BodyReader;
            CancellationToken aborted = context.RequestAborted;
            ReadResult result = await reader.ReadAsync(aborted);
            while (result.Buffer.Length < ExamineThreshold && !result.IsCompleted)
            {
                reader.AdvanceTo(result.Buffer.Start, result.Buffer.End);
                result = await reader.ReadAsync(aborted);
            }

            long examinedAtOnce = result.Buffer.Length;
            using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            long total = 0;
            while (true)
            {
                foreach (ReadOnlyMemory<byte> segment in result.Buffer)
                {
                    hash.AppendData(segment.Span);
                }

                total += result.Buffer.Length;
                reader.AdvanceTo(result.Buffer.End);
                if (result.IsCompleted)
                {
                    break;
                }

                result = await reader.ReadAsync(aborted);
            }

            return $"{total}|{Convert.ToHexString(hash.GetHashAndReset())}|{examinedAtOnce}";
        });

        app.MapPost("/form", async (HttpContext context) =>
        {
            IFormCollection form = await context.Request.ReadFormAsync(context.RequestAborted);
            IFormFile file = form.Files.GetFile("file") ?? throw new InvalidOperationException("no file part");
            await using Stream content = file.OpenReadStream();
            byte[] sha = await SHA256.HashDataAsync(content, context.RequestAborted);
            return $"{file.Length}|{Convert.ToHexString(sha)}|{file.FileName}|{form["note"]}|{form.Files.Count}";
        });

        app.MapPost("/json/records", async (HttpContext context) =>
        {
            JsonRecordBatch batch = await context.Request.ReadFromJsonAsync<JsonRecordBatch>(context.RequestAborted)
                ?? throw new InvalidOperationException("null document");
            return $"{batch.Records.Count}|{LargePayload.Sha256Hex(JsonSerializer.SerializeToUtf8Bytes(batch, JsonSerializerOptions.Web))}";
        });

        app.MapPost("/json/blob", async (HttpContext context) =>
        {
            JsonBlob blob = await context.Request.ReadFromJsonAsync<JsonBlob>(context.RequestAborted)
                ?? throw new InvalidOperationException("null document");
            return $"{blob.Data.Length}|{LargePayload.Sha256Hex(blob.Data)}|{blob.Name}";
        });

        // Small reads through the Stream API, with a short pause after every 64 KiB.
        app.MapPost("/slow-read/stream", async (HttpContext context) =>
        {
            CancellationToken aborted = context.RequestAborted;
            var buffer = new byte[8 * 1024];
            using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            long total = 0;
            long nextPause = SlowReadPauseEvery;
            int read;
            while ((read = await context.Request.Body.ReadAsync(buffer, aborted)) > 0)
            {
                hash.AppendData(buffer, 0, read);
                total += read;
                if (total >= nextPause)
                {
                    nextPause += SlowReadPauseEvery;
                    await Task.Delay(SlowReadPauseMilliseconds, aborted);
                }
            }

            return $"{total}|{Convert.ToHexString(hash.GetHashAndReset())}";
        });

        // Small reads through the PipeReader: at most 4 KiB consumed per read, the rest left for the next read.
        app.MapPost("/slow-read/pipe", async (HttpContext context) =>
        {
            CancellationToken aborted = context.RequestAborted;
            PipeReader reader = context.Request.BodyReader;
            using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            long total = 0;
            long nextPause = SlowReadPauseEvery;
            while (true)
            {
                ReadResult result = await reader.ReadAsync(aborted);
                ReadOnlySequence<byte> slice = result.Buffer.Slice(0, Math.Min(result.Buffer.Length, 4 * 1024));
                foreach (ReadOnlyMemory<byte> segment in slice)
                {
                    hash.AppendData(segment.Span);
                }

                total += slice.Length;
                reader.AdvanceTo(slice.End);
                if (result.IsCompleted && slice.Length == result.Buffer.Length)
                {
                    break;
                }

                if (total >= nextPause)
                {
                    nextPause += SlowReadPauseEvery;
                    await Task.Delay(SlowReadPauseMilliseconds, aborted);
                }
            }

            return $"{total}|{Convert.ToHexString(hash.GetHashAndReset())}";
        });

        // Typed as a Func so that it maps as a route handler (whose string is written), not as a RequestDelegate.
        app.MapPost("/upload", (Func<HttpContext, Task<string>>)RequestBodyDigest.ReadAsync);

        app.MapGet("/download/{length:int}/{seed:int}", async (HttpContext context, int length, int seed) =>
        {
            byte[] body = LargePayload.Create(length, seed);
            context.Response.ContentType = "application/octet-stream";
            context.Response.ContentLength = length;
            for (int offset = 0; offset < length; offset += 64 * 1024)
            {
                await context.Response.Body.WriteAsync(body.AsMemory(offset, Math.Min(64 * 1024, length - offset)), context.RequestAborted);
            }
        });

        // Writes each piece of the request body back as it arrives: both directions in flight at once.
        app.MapPost("/echo-streaming", async (HttpContext context) =>
        {
            context.Response.ContentType = "application/octet-stream";
            await context.Request.BodyReader.CopyToAsync(context.Response.BodyWriter, context.RequestAborted);
        });
    }

    [Fact]
    public async Task HandlerExaminingWithoutConsumingGetsThreeMebibytes()
    {
        await using KestrelTestHost host = await KestrelTestHost.StartAsync(MapEndpoints);
        using HttpClient client = host.CreateHttp2Client();
        byte[] upload = LargePayload.Create(4 * LargePayload.MiB, 1);
        var content = new CountingContent(upload);

        await HangGuard.RunAsync(
            async cancel =>
            {
                string[] answer = await PostForAnswerAsync(client, "/examine-then-consume", content, cancel);

                Assert.Equal(upload.Length.ToString(), answer[0]);
                Assert.Equal(LargePayload.Sha256Hex(upload), answer[1]);
                Assert.InRange(long.Parse(answer[2]), ExamineThreshold, upload.Length);
            },
            () => content.Progress);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task MultipartFormWithFiveMegabyteFileIsRead(bool tls)
    {
        await using KestrelTestHost host = await KestrelTestHost.StartAsync(MapEndpoints, tls);
        using HttpClient client = host.CreateHttp2Client();
        byte[] file = LargePayload.Create(FormFileLength, 2);
        using var form = new MultipartFormDataContent
        {
            { new ByteArrayContent(file), "file", "payload.bin" },
            { new StringContent("a text field next to the file"), "note" },
        };
        var content = new CountingContent(await form.ReadAsByteArrayAsync());
        content.Headers.ContentType = form.Headers.ContentType;

        await HangGuard.RunAsync(
            async cancel =>
            {
                string[] answer = await PostForAnswerAsync(client, "/form", content, cancel);

                Assert.Equal(FormFileLength.ToString(), answer[0]);
                Assert.Equal(LargePayload.Sha256Hex(file), answer[1]);
                Assert.Equal("payload.bin", answer[2]);
                Assert.Equal("a text field next to the file", answer[3]);
                Assert.Equal("1", answer[4]);
            },
            () => content.Progress);
    }

    [Fact]
    public async Task JsonDocumentOfFiftyThousandRecordsIsRead()
    {
        await using KestrelTestHost host = await KestrelTestHost.StartAsync(MapEndpoints);
        using HttpClient client = host.CreateHttp2Client();
        var batch = new JsonRecordBatch(Enumerable.Range(0, JsonRecordCount)
            .Select(i => new JsonRecord(i, $"record {i:D6} {(uint)(i * 2_654_435_761u):x8}", i % 7 == 0 ? null : $"category-{i % 13}", [i, i * 3, -i, i % 1000]))
            .ToList());
        byte[] json = JsonSerializer.SerializeToUtf8Bytes(batch, JsonSerializerOptions.Web);
        Assert.InRange(json.Length, 4_500_000, 6_000_000);
        var content = new CountingContent(json);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/json");

        await HangGuard.RunAsync(
            async cancel =>
            {
                string[] answer = await PostForAnswerAsync(client, "/json/records", content, cancel);

                Assert.Equal(JsonRecordCount.ToString(), answer[0]);
                Assert.Equal(LargePayload.Sha256Hex(json), answer[1]);
            },
            () => content.Progress);
    }

    /// <summary>One JSON string token of 5 MB: the parser cannot consume any of it until all of it has arrived.</summary>
    [Fact]
    public async Task JsonDocumentWithOneFiveMegabyteBase64ValueIsRead()
    {
        await using KestrelTestHost host = await KestrelTestHost.StartAsync(MapEndpoints);
        using HttpClient client = host.CreateHttp2Client();
        var blob = new JsonBlob("blob.bin", LargePayload.Create(JsonBlobLength, 3));
        byte[] json = JsonSerializer.SerializeToUtf8Bytes(blob, JsonSerializerOptions.Web);
        Assert.InRange(json.Length, 5_000_000, 5_001_000);
        var content = new CountingContent(json);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/json");

        await HangGuard.RunAsync(
            async cancel =>
            {
                string[] answer = await PostForAnswerAsync(client, "/json/blob", content, cancel);

                Assert.Equal(JsonBlobLength.ToString(), answer[0]);
                Assert.Equal(LargePayload.Sha256Hex(blob.Data), answer[1]);
                Assert.Equal("blob.bin", answer[2]);
            },
            () => content.Progress);
    }

    [Theory]
    [InlineData(SlowReader.Stream, false)]
    [InlineData(SlowReader.Pipe, false)]
    [InlineData(SlowReader.Stream, true)]
    public async Task SlowReaderReceivesEightMebibytes(SlowReader reader, bool tls)
    {
        await using KestrelTestHost host = await KestrelTestHost.StartAsync(MapEndpoints, tls);
        using HttpClient client = host.CreateHttp2Client();
        byte[] upload = LargePayload.Create(8 * LargePayload.MiB, 4);
        var content = new CountingContent(upload);
        string path = reader == SlowReader.Stream ? "/slow-read/stream" : "/slow-read/pipe";

        await HangGuard.RunAsync(
            async cancel =>
            {
                string[] answer = await PostForAnswerAsync(client, path, content, cancel);

                Assert.Equal(upload.Length.ToString(), answer[0]);
                Assert.Equal(LargePayload.Sha256Hex(upload), answer[1]);
            },
            () => content.Progress);
    }

    /// <summary>
    /// 4 MiB up (hashed by the handler), 4 MiB down (generated by the handler) and 4 MiB echoed as it arrives, with the
    /// engine's stream and connection receive windows both at the smallest value allowed and at 2^31 − 1.
    /// </summary>
    [Theory]
    [InlineData(65_535, false)]
    [InlineData(int.MaxValue, false)]
    [InlineData(65_535, true)]
    [InlineData(int.MaxValue, true)]
    public async Task FourMebibytesEachWayWithExtremeWindows(int window, bool tls)
    {
        await using KestrelTestHost host = await KestrelTestHost.StartAsync(MapEndpoints, tls, configureEngine: options =>
        {
            options.InitialStreamWindowSize = window;
            options.InitialConnectionWindowSize = window;
        });
        using HttpClient client = host.CreateHttp2Client();
        const int Length = 4 * LargePayload.MiB;
        byte[] upload = LargePayload.Create(Length, 5);
        var uploadContent = new CountingContent(upload);
        var echoContent = new CountingContent(upload);
        string stage = "upload";

        await HangGuard.RunAsync(
            async cancel =>
            {
                string[] answer = await PostForAnswerAsync(client, "/upload", uploadContent, cancel);
                Assert.Equal(Length.ToString(), answer[0]);
                Assert.Equal(LargePayload.Sha256Hex(upload), answer[1]);

                stage = "download";
                using (HttpResponseMessage response = await client.GetAsync($"/download/{Length}/6", cancel))
                {
                    Assert.Equal(HttpStatusCode.OK, response.StatusCode);
                    byte[] downloaded = await response.Content.ReadAsByteArrayAsync(cancel);
                    Assert.Equal(Length, downloaded.Length);
                    Assert.True(downloaded.AsSpan().SequenceEqual(LargePayload.Create(Length, 6)), "downloaded bytes differ");
                }

                stage = "echo";
                using (HttpResponseMessage response = await client.PostAsync("/echo-streaming", echoContent, cancel))
                {
                    Assert.Equal(HttpStatusCode.OK, response.StatusCode);
                    byte[] echoed = await response.Content.ReadAsByteArrayAsync(cancel);
                    Assert.Equal(Length, echoed.Length);
                    Assert.True(echoed.AsSpan().SequenceEqual(upload), "echoed bytes differ");
                }
            },
            () => $"{stage}: upload: {uploadContent.Progress}; echo: {echoContent.Progress}");
    }

    private static async Task<string[]> PostForAnswerAsync(HttpClient client, string path, HttpContent content, CancellationToken cancel)
    {
        using HttpResponseMessage response = await client.PostAsync(path, content, cancel);
        string answer = await response.Content.ReadAsStringAsync(cancel);
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"{(int)response.StatusCode}: {answer}");
        Assert.Equal(HttpVersion.Version20, response.Version);
        return answer.Split('|');
    }
}

public sealed record JsonRecord(int Id, string Name, string? Category, int[] Values);

public sealed record JsonRecordBatch(List<JsonRecord> Records);

public sealed record JsonBlob(string Name, byte[] Data);
