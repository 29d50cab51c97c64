using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Xunit.Abstractions;

namespace H2Middleware.Tests.EndToEnd;

/// <summary>
/// Graceful shutdown with a real Kestrel host under load: several HTTP/2 connections, each with many streaming requests in
/// flight and more arriving while the host stops. Every request the server accepted (its handler started) completes with
/// its whole body; one it did not accept may fail, retryably, but nothing hangs.
/// </summary>
public class ShutdownUnderLoadTests(ITestOutputHelper output)
{
    /// <summary>Per connection, so that the clients need several connections and some requests queue on the client.</summary>
    private const int MaxStreamsPerConnection = 16;

    private const int SingleConnectionClients = 3;

    /// <summary>Requests each single-connection client starts at once: more than its connection may run.</summary>
    private const int RequestsPerSingleConnectionClient = 20;

    /// <summary>Requests of the client allowed several connections: it opens three to run them all.</summary>
    private const int RequestsOnMultipleConnections = 40;

    private const int Chunks = 8;

    private const int ChunkSize = 4096;

    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);

    private sealed record Result(string Id, bool Accepted, Exception? Error, HttpStatusCode? Status, bool BodyComplete, int BodyLength);

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task StoppingTheHostCompletesEveryAcceptedRequestAndFailsTheOthersRetryably(bool tls)
    {
        var accepted = new ConcurrentDictionary<string, long>();
        var finished = new ConcurrentDictionary<string, bool>();
        var abortedOnServer = new ConcurrentDictionary<string, bool>();
        int initialRequests = SingleConnectionClients * MaxStreamsPerConnection + RequestsOnMultipleConnections;
        var initialLoadRunning = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var clock = Stopwatch.StartNew();

        KestrelTestHost host = await KestrelTestHost.StartAsync(
            app => app.MapGet("/work/{id}", async (HttpContext context, string id) =>
            {
                accepted[id] = clock.ElapsedMilliseconds;
                if (accepted.Count >= initialRequests)
                {
                    initialLoadRunning.TrySetResult();
                }

                context.RequestAborted.Register(() => abortedOnServer[id] = true);
                byte[] body = ExpectedBody(id);
                int pause = (200 + (int)(Fnv(id) % 300)) / Chunks;
                context.Response.ContentLength = body.Length;
                for (int i = 0; i < Chunks; i++)
                {
                    // No RequestAborted token: a graceful shutdown must let an accepted request finish on its own.
                    await context.Response.Body.WriteAsync(body.AsMemory(i * ChunkSize, ChunkSize));
                    await context.Response.Body.FlushAsync();
                    await Task.Delay(pause);
                }

                finished[id] = true;
            }),
            tls,
            configureEngine: o => o.MaxStreamsPerConnection = MaxStreamsPerConnection);

        var clients = new List<HttpClient>();
        for (int i = 0; i < SingleConnectionClients; i++)
        {
            clients.Add(host.CreateHttp2Client());
        }

        clients.Add(new HttpClient(new SocketsHttpHandler
        {
            EnableMultipleHttp2Connections = true,
            SslOptions = { RemoteCertificateValidationCallback = (_, _, _, _) => true },
        })
        {
            BaseAddress = host.BaseAddress,
            DefaultRequestVersion = HttpVersion.Version20,
            DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact,
        });

        try
        {
            var requests = new List<Task<Result>>();
            for (int c = 0; c < clients.Count; c++)
            {
                int count = c < SingleConnectionClients ? RequestsPerSingleConnectionClient : RequestsOnMultipleConnections;
                for (int n = 0; n < count; n++)
                {
                    requests.Add(SendAsync(clients[c], $"c{c}-initial-{n}"));
                }
            }

            await WithinAsync(initialLoadRunning.Task, "the initial load starting on the server");
            output.WriteLine($"{accepted.Count} handlers running at {clock.ElapsedMilliseconds} ms; stopping the host");

            // More requests keep coming while the host stops: some reach a connection before its GOAWAY, some after.
            Task<List<Task<Result>>> trickle = Task.Run(async () =>
            {
                var late = new List<Task<Result>>();
                for (int n = 0; n < 15; n++)
                {
                    for (int c = 0; c < clients.Count; c++)
                    {
                        late.Add(SendAsync(clients[c], $"c{c}-late-{n}"));
                    }

                    await Task.Delay(20);
                }

                return late;
            });

            using var stopTimeout = new CancellationTokenSource(Bound);
            Task stopping = host.StopAsync(stopTimeout.Token);
            requests.AddRange(await trickle);

            await WithinAsync(Task.WhenAll(requests), "every request completing or failing");
            await WithinAsync(stopping, "the host stopping");
            Assert.False(stopTimeout.IsCancellationRequested, "Kestrel had to abort connections: the graceful shutdown did not finish in time");
            output.WriteLine($"host stopped at {clock.ElapsedMilliseconds} ms");

            Result[] results = requests.Select(r => r.Result with { Accepted = accepted.ContainsKey(r.Result.Id) }).ToArray();
            Result[] succeeded = results.Where(r => r.Error is null).ToArray();
            Result[] failed = results.Where(r => r.Error is not null).ToArray();
            output.WriteLine($"{results.Length} requests: {accepted.Count} accepted, {succeeded.Length} succeeded, {failed.Length} failed");
            foreach (var group in failed.GroupBy(r => Describe(r.Error!)))
            {
                output.WriteLine($"  {group.Count()} x {group.Key}");
            }

            var problems = new List<string>();
            foreach (Result result in results.Where(r => r.Accepted && (r.Error is not null || !r.BodyComplete)))
            {
                problems.Add($"{result.Id} was accepted but {(result.Error is null ? $"its body was wrong ({result.BodyLength} bytes)" : "failed: " + Describe(result.Error))}");
            }

            foreach (Result result in failed.Where(r => !r.Accepted && r.Error is not HttpRequestException))
            {
                problems.Add($"{result.Id} was not accepted and failed in a way a client cannot retry: {Describe(result.Error!)}");
            }

            foreach (string id in accepted.Keys.Where(id => !finished.ContainsKey(id)))
            {
                problems.Add($"the handler of {id} did not finish its body{(abortedOnServer.ContainsKey(id) ? " (its RequestAborted fired)" : "")}");
            }

            Assert.True(problems.Count == 0, string.Join(Environment.NewLine, problems));
            Assert.True(accepted.Count >= initialRequests, "the load never ran");
            Assert.All(succeeded, r => Assert.True(r.Accepted && r.BodyComplete));
        }
        finally
        {
            foreach (HttpClient client in clients)
            {
                client.Dispose();
            }

            await host.DisposeAsync();
        }
    }

    private static async Task<Result> SendAsync(HttpClient client, string id)
    {
        using var timeout = new CancellationTokenSource(Bound);
        try
        {
            using HttpResponseMessage response = await client.GetAsync($"/work/{id}", HttpCompletionOption.ResponseContentRead, timeout.Token);
            byte[] body = await response.Content.ReadAsByteArrayAsync(timeout.Token);
            return new Result(id, false, null, response.StatusCode, response.StatusCode == HttpStatusCode.OK && body.AsSpan().SequenceEqual(ExpectedBody(id)), body.Length);
        }
        catch (Exception error)
        {
            return new Result(id, false, error, null, false, 0);
        }
    }

    private static string Describe(Exception error)
    {
        var parts = new List<string>();
        for (Exception? e = error; e is not null; e = e.InnerException)
        {
            parts.Add(e is HttpRequestException http ? $"{e.GetType().Name}({http.HttpRequestError}): {e.Message}" : $"{e.GetType().Name}: {e.Message}");
        }

        return string.Join(" <- ", parts);
    }

    private static byte[] ExpectedBody(string id)
    {
        byte[] body = new byte[Chunks * ChunkSize];
        uint seed = Fnv(id);
        for (int i = 0; i < body.Length; i++)
        {
            body[i] = (byte)(seed + (uint)i * 31);
        }

        return body;
    }

    private static uint Fnv(string text)
    {
        uint hash = 2166136261;
        foreach (char c in text)
        {
            hash = (hash ^ c) * 16777619;
        }

        return hash;
    }

    private static async Task WithinAsync(Task task, string what)
    {
        try
        {
            await task.WaitAsync(Bound);
        }
        catch (TimeoutException)
        {
            throw new Xunit.Sdk.XunitException($"Hang: {what} did not happen within {Bound.TotalSeconds:0} s.");
        }
    }
}
