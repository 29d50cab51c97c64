using System.Collections.Concurrent;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;

namespace H2Middleware.Tests.ServeLoop.Harness;

/// <summary>
/// Watches handlers for what must hold whatever fails: every started handler returns, RequestAborted fires for a stream
/// that could not complete, and a pooled stream object never serves two requests at once. The stream object is the
/// feature collection a handler gets: each handler claims it from start until its last OnCompleted callback has run
/// (after which the engine may recycle it), and checks, whenever it looks at its context again, that it still sees its
/// own request.
/// </summary>
internal sealed class HandlerProbe
{
    private readonly ConcurrentDictionary<IFeatureCollection, string> _holders = new(ReferenceEqualityComparer.Instance);
    private readonly ConcurrentDictionary<string, Request> _requests = new();

    public ConcurrentQueue<string> Violations { get; } = new();

    /// <summary>What happened to the request for one path (each test request has its own path).</summary>
    public sealed class Request(string path)
    {
        public string Path => path;

        public TaskCompletionSource Started { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public TaskCompletionSource Aborted { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        /// <summary>The handler returned or threw.</summary>
        public TaskCompletionSource Returned { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        /// <summary>The OnCompleted callbacks have run: from here the engine may recycle the stream object.</summary>
        public TaskCompletionSource Released { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        /// <summary>What the handler saw fail (a body read or write), if anything.</summary>
        public Exception? Failure { get; set; }

        /// <summary>The handler read the request body to its end (for a body cut short by a fault, that would be a lie).</summary>
        public bool BodyEnded { get; set; }

        /// <summary>Something the handler wants to tell the test (how far it got).</summary>
        public TaskCompletionSource<object?> Reached { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    public Request this[string path] => _requests.GetOrAdd(path, static p => new Request(p));

    public IEnumerable<Request> Started => _requests.Values.Where(r => r.Started.Task.IsCompleted);

    /// <summary>Wraps a handler so that the probe sees it start, abort, return and release its stream.</summary>
    public RequestDelegate Handle(Func<HttpContext, Request, Task> handler) => async context =>
    {
        string path = context.Request.Path.Value ?? "";
        IFeatureCollection features = context.Features;
        Request request = this[path];
        if (!_holders.TryAdd(features, path))
        {
            _holders.TryGetValue(features, out string? holder);
            Violations.Enqueue($"{path} was given the stream object that {holder} still holds");
        }

        // Registered first, so it runs last of the OnCompleted callbacks: the handler holds the stream until then.
        context.Response.OnCompleted(() =>
        {
            Check(context, features, path, "in its last OnCompleted callback");
            _holders.TryRemove(new KeyValuePair<IFeatureCollection, string>(features, path));
            request.Released.TrySetResult();
            return Task.CompletedTask;
        });
        context.RequestAborted.Register(() =>
        {
            Check(context, features, path, "in its RequestAborted callback");
            request.Aborted.TrySetResult();
        });
        request.Started.TrySetResult();
        try
        {
            await handler(context, request);
        }
        finally
        {
            Check(context, features, path, "when it returned");
            request.Returned.TrySetResult();
        }
    };

    /// <summary>A handler that keeps its context after an abort and looks at it again: it must still be its own request.</summary>
    public async Task LingerAsync(HttpContext context, string path, TimeSpan duration)
    {
        IFeatureCollection features = context.Features;
        long until = Environment.TickCount64 + (long)duration.TotalMilliseconds;
        while (Environment.TickCount64 < until)
        {
            Check(context, features, path, "while it lingered after the abort");
            await Task.Delay(5);
        }
    }

    private void Check(HttpContext context, IFeatureCollection features, string path, string when)
    {
        string? seen = null;
        try
        {
            seen = context.Request.Path.Value;
        }
        catch (Exception error)
        {
            Violations.Enqueue($"{path} could not read its own path {when}: {error.GetType().Name}");
            return;
        }

        if (!ReferenceEquals(context.Features, features) || seen != path)
        {
            Violations.Enqueue($"{path} saw the request {seen} {when}: its stream object was reused");
        }
    }

    /// <summary>Every handler that started has returned and released its stream, and nothing was seen reused.</summary>
    public async Task AssertAllFinishedAsync(TimeSpan? timeout = null)
    {
        foreach (Request request in Started.ToList())
        {
            await Within(request.Returned.Task, $"the handler of {request.Path} returning", timeout);
            await Within(request.Released.Task, $"the OnCompleted callbacks of {request.Path} running", timeout);
        }

        AssertNoViolations();
    }

    public async Task AssertAbortedAsync(params string[] paths)
    {
        foreach (string path in paths)
        {
            Assert.True(this[path].Started.Task.IsCompleted, $"the handler of {path} never started");
            await Within(this[path].Aborted.Task, $"RequestAborted of {path} firing");
        }
    }

    public void AssertNoViolations() => Assert.True(Violations.IsEmpty, string.Join(Environment.NewLine, Violations));

    public static async Task Within(Task task, string what, TimeSpan? timeout = null)
    {
        try
        {
            await task.WaitAsync(timeout ?? Http2TestClient.DefaultTimeout);
        }
        catch (TimeoutException)
        {
            throw new Xunit.Sdk.XunitException($"Hang: {what} did not happen within {(timeout ?? Http2TestClient.DefaultTimeout).TotalSeconds:0.#} s.");
        }
    }
}
