using System.Collections.Concurrent;
using System.Net.Sockets;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace H2Middleware.Tests.EndToEnd;

/// <summary>
/// <see cref="Http2ServeLoopOptions.SocketUnsentBytesLowWatermark"/> reaches the connection's socket as
/// TCP_NOTSENT_LOWAT, read back with getsockopt through the socket a connection middleware before the engine saw.
/// </summary>
public class SocketUnsentBytesLimitTests
{
    private const int IpProtocolTcp = 6;
    private const int TcpNotSentLowWatermark = 25;

    [Fact]
    public async Task TheOptionSetsTheSocketsUnsentBytesLowWatermark()
    {
        if (!OperatingSystem.IsLinux())
        {
            return;
        }

        Assert.Equal(48 * 1024, await LowWatermarkOfServedConnectionAsync(48 * 1024));
    }

    [Fact]
    public async Task NullLeavesTheSocketAsTheOperatingSystemMadeIt()
    {
        if (!OperatingSystem.IsLinux())
        {
            return;
        }

        using var fresh = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        Assert.Equal(ReadLowWatermark(fresh), await LowWatermarkOfServedConnectionAsync(null));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1_023)]
    public void ALowWatermarkUnder1KiBIsRefused(int bytes)
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new Http2ServeLoopOptions { SocketUnsentBytesLowWatermark = bytes }.Validate());
    }

    /// <summary>Serves one HTTP/2 request with the option set as given and returns the server socket's TCP_NOTSENT_LOWAT.</summary>
    private static async Task<int> LowWatermarkOfServedConnectionAsync(int? lowWatermark)
    {
        var sockets = new ConcurrentQueue<Socket>();
        await using var host = await KestrelTestHost.StartAsync(
            app => app.MapGet("/", () => "ok"),
            configureEngine: options => options.SocketUnsentBytesLowWatermark = lowWatermark,
            protocols: HttpProtocols.Http2,
            beforeEngine: listen => listen.Use(next => connection =>
            {
                sockets.Enqueue(connection.Features.Get<IConnectionSocketFeature>()!.Socket);
                return next(connection);
            }));

        using HttpClient client = host.CreateHttp2Client();
        Assert.Equal("ok", await client.GetStringAsync(new Uri("/", UriKind.Relative)));
        return ReadLowWatermark(Assert.Single(sockets));
    }

    private static int ReadLowWatermark(Socket socket)
    {
        byte[] value = new byte[sizeof(int)];
        Assert.Equal(sizeof(int), socket.GetRawSocketOption(IpProtocolTcp, TcpNotSentLowWatermark, value));
        return BitConverter.ToInt32(value);
    }
}
