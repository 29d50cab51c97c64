using System.Net.Sockets;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;

namespace H2Middleware.Hosting;

/// <summary>
/// Applies <see cref="Http2ServeLoopOptions.SocketUnsentBytesLowWatermark"/>: TCP_NOTSENT_LOWAT on the connection's
/// socket, so that the kernel takes new bytes only while few of the ones it holds are still unsent. What the kernel
/// holds can no longer be reprioritised; what the engine still holds can.
/// </summary>
internal static class SocketUnsentBytesLimit
{
    private const int IpProtocolTcp = 6;
    private const int TcpNotSentLowWatermark = 25;

    /// <summary>Sets the limit on Linux when the transport exposes a socket; elsewhere, and on sockets that refuse it, does nothing.</summary>
    public static void Apply(ConnectionContext connection, int? lowWatermark)
    {
        if (lowWatermark is not { } bytes || !OperatingSystem.IsLinux() || connection.Features.Get<IConnectionSocketFeature>()?.Socket is not { } socket)
        {
            return;
        }

        try
        {
            socket.SetRawSocketOption(IpProtocolTcp, TcpNotSentLowWatermark, BitConverter.GetBytes(bytes));
        }
        catch (SocketException)
        {
            // Not TCP (a Unix domain socket endpoint) or a kernel without the option: the OS default stays.
        }
        catch (ObjectDisposedException)
        {
            // The client is already gone; the serve loop will find out.
        }
    }
}
