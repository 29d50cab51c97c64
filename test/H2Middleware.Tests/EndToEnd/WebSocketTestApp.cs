using System.Collections.Concurrent;
using System.Net.WebSockets;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core.Features;

namespace H2Middleware.Tests.EndToEnd;

/// <summary>
/// The server side of the WebSocket end-to-end tests: an ordinary ASP.NET Core app (<c>UseWebSockets</c>,
/// <c>AcceptWebSocketAsync</c>) that echoes, closes first, aborts or refuses, and records for each socket (named by its
/// <c>id</c> query parameter) the connection and stream it came on and how its handler ended.
/// </summary>
internal sealed class WebSocketTestApp
{
    private readonly ConcurrentDictionary<string, TaskCompletionSource<string>> _outcomes = new();

    /// <summary>The ids of the connections WebSocket requests came on.</summary>
    public ConcurrentDictionary<string, byte> ConnectionIds { get; } = new();

    /// <summary>The HTTP/2 stream id of each accepted socket.</summary>
    public ConcurrentBag<int> StreamIds { get; } = [];

    /// <summary>Requests that reached a handler without being served by the engine, or were not WebSocket requests.</summary>
    public ConcurrentQueue<string> Violations { get; } = new();

    /// <summary>How the handler of socket <paramref name="id"/> ended: "closed {status} {description}", or the exception's type.</summary>
    public Task<string> OutcomeOf(string id) => Outcome(id).Task.WaitAsync(HangGuard.DefaultLimit);

    public void Configure(WebApplication app)
    {
        app.UseWebSockets();
        app.Map("/echo", context => ServeAsync(context, EchoAsync));
        app.Map("/close-first", context => ServeAsync(context, static async (socket, cancel) =>
        {
            await socket.SendAsync("hello"u8.ToArray(), WebSocketMessageType.Text, endOfMessage: true, cancel);
            await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, "server done", cancel);
        }));
        app.Map("/forbidden", context =>
        {
            context.Response.StatusCode = context.WebSockets.IsWebSocketRequest ? StatusCodes.Status403Forbidden : StatusCodes.Status400BadRequest;
            return context.Response.WriteAsync("no sockets here");
        });
    }

    private async Task ServeAsync(HttpContext context, Func<WebSocket, CancellationToken, Task> serve)
    {
        string id = context.Request.Query["id"].ToString();
        if (!KestrelTestHost.ServedByEngine(context) || !context.WebSockets.IsWebSocketRequest)
        {
            Violations.Enqueue($"{id}: engine {KestrelTestHost.ServedByEngine(context)}, WebSocket request {context.WebSockets.IsWebSocketRequest}");
            context.Response.StatusCode = StatusCodes.Status400BadRequest;
            return;
        }

        ConnectionIds.TryAdd(context.Connection.Id, 0);
        StreamIds.Add(context.Features.Get<IHttp2StreamIdFeature>()!.StreamId);
        using WebSocket socket = await context.WebSockets.AcceptWebSocketAsync();
        try
        {
            if (context.Request.Query.ContainsKey("abort"))
            {
                // The server gives up on this socket after its first message.
                await socket.ReceiveAsync(new byte[64], context.RequestAborted);
                context.Abort();
                Outcome(id).TrySetResult("aborted by the server");
                return;
            }

            await serve(socket, context.RequestAborted);
            Outcome(id).TrySetResult($"closed {socket.CloseStatus} {socket.CloseStatusDescription}");
        }
        catch (Exception error)
        {
            Outcome(id).TrySetResult(error.GetType().Name);
        }
    }

    /// <summary>Sends every message back whole, with its type, until the client closes; then completes the close handshake.</summary>
    private static async Task EchoAsync(WebSocket socket, CancellationToken cancel)
    {
        var buffer = new byte[16 * 1024];
        using var message = new MemoryStream();
        while (true)
        {
            ValueWebSocketReceiveResult received = await socket.ReceiveAsync(buffer.AsMemory(), cancel);
            if (received.MessageType == WebSocketMessageType.Close)
            {
                await socket.CloseAsync(socket.CloseStatus ?? WebSocketCloseStatus.NormalClosure, socket.CloseStatusDescription, cancel);
                return;
            }

            message.Write(buffer, 0, received.Count);
            if (received.EndOfMessage)
            {
                await socket.SendAsync(message.GetBuffer().AsMemory(0, (int)message.Length), received.MessageType, endOfMessage: true, cancel);
                message.SetLength(0);
            }
        }
    }

    private TaskCompletionSource<string> Outcome(string id) =>
        _outcomes.GetOrAdd(id, static _ => new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously));
}
