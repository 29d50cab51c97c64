using System.Net.WebSockets;
using Microsoft.AspNetCore.Http;

namespace ProxyFarm;

/// <summary>
/// Echoes every WebSocket message back whole, with its type, until the client closes. The app is plain ASP.NET Core:
/// over HTTP/2 the socket arrives as an extended CONNECT stream (RFC 8441), which the engine hands to
/// <c>AcceptWebSocketAsync</c> like an HTTP/1.1 upgrade.
/// </summary>
internal static class WebSocketEcho
{
    public static async Task HandleAsync(HttpContext context)
    {
        if (!context.WebSockets.IsWebSocketRequest)
        {
            context.Response.StatusCode = StatusCodes.Status400BadRequest;
            return;
        }

        using WebSocket socket = await context.WebSockets.AcceptWebSocketAsync();
        var buffer = new byte[16 * 1024];
        using var message = new MemoryStream();
        while (true)
        {
            ValueWebSocketReceiveResult received = await socket.ReceiveAsync(buffer.AsMemory(), context.RequestAborted);
            if (received.MessageType == WebSocketMessageType.Close)
            {
                await socket.CloseAsync(socket.CloseStatus ?? WebSocketCloseStatus.NormalClosure, socket.CloseStatusDescription, context.RequestAborted);
                return;
            }

            message.Write(buffer, 0, received.Count);
            if (received.EndOfMessage)
            {
                await socket.SendAsync(message.GetBuffer().AsMemory(0, (int)message.Length), received.MessageType, endOfMessage: true, context.RequestAborted);
                message.SetLength(0);
            }
        }
    }
}
