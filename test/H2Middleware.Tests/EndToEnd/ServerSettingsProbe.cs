using System.Buffers.Binary;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using H2Middleware.Frames;

namespace H2Middleware.Tests.EndToEnd;

/// <summary>
/// Opens an HTTP/2 connection (prior knowledge, or TLS with ALPN h2) and returns the parameters of the server's first
/// SETTINGS frame. Tells our engine from Kestrel's HTTP/2: only ours sends SETTINGS_NO_RFC7540_PRIORITIES.
/// </summary>
internal static class ServerSettingsProbe
{
    public static async Task<IReadOnlyDictionary<Http2SettingsParameter, uint>> ReadAsync(int port, bool tls = false)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        using var client = new TcpClient();
        await client.ConnectAsync(IPAddress.Loopback, port, timeout.Token);
        Stream stream = client.GetStream();
        if (tls)
        {
            var ssl = new SslStream(stream, leaveInnerStreamOpen: false);
            await ssl.AuthenticateAsClientAsync(
                new SslClientAuthenticationOptions
                {
                    TargetHost = "localhost",
                    ApplicationProtocols = [SslApplicationProtocol.Http2],
                    RemoteCertificateValidationCallback = (_, _, _, _) => true,
                },
                timeout.Token);
            stream = ssl;
        }

        await using (stream)
        {
            byte[] preface = [.. Http2Limits.ClientPreface, 0, 0, 0, (byte)Http2FrameType.Settings, 0, 0, 0, 0, 0];
            await stream.WriteAsync(preface, timeout.Token);

            var header = new byte[9];
            while (true)
            {
                await stream.ReadExactlyAsync(header, timeout.Token);
                int length = (header[0] << 16) | (header[1] << 8) | header[2];
                var payload = new byte[length];
                await stream.ReadExactlyAsync(payload, timeout.Token);
                if (header[3] == (byte)Http2FrameType.Settings && (header[4] & 0x1) == 0)
                {
                    var settings = new Dictionary<Http2SettingsParameter, uint>();
                    for (int i = 0; i + 6 <= payload.Length; i += 6)
                    {
                        settings[(Http2SettingsParameter)BinaryPrimitives.ReadUInt16BigEndian(payload.AsSpan(i))] =
                            BinaryPrimitives.ReadUInt32BigEndian(payload.AsSpan(i + 2));
                    }

                    return settings;
                }
            }
        }
    }

    /// <summary>Whether the connection on <paramref name="port"/> is served by our engine rather than Kestrel's HTTP/2.</summary>
    public static async Task<bool> ServedByEngineAsync(int port, bool tls = false) =>
        (await ReadAsync(port, tls)).GetValueOrDefault(Http2SettingsParameter.NoRfc7540Priorities) == 1;
}
