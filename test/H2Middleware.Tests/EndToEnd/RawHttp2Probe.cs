using System.Buffers;
using System.Buffers.Binary;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Text;
using H2Middleware.Frames;
using H2Middleware.Hpack;

namespace H2Middleware.Tests.EndToEnd;

/// <summary>
/// One raw HTTP/2 connection (prior knowledge, or TLS with ALPN h2) that shows exactly what the server sends: its first
/// SETTINGS, or the header fields of one response, as they were on the wire (HttpClient reparses some, Alt-Svc among
/// them). The SETTINGS tell our engine from Kestrel's HTTP/2: only ours sends SETTINGS_NO_RFC7540_PRIORITIES.
/// </summary>
internal sealed class RawHttp2Probe : IAsyncDisposable
{
    private readonly TcpClient _client;
    private readonly Stream _stream;
    private readonly CancellationTokenSource _timeout = new(TimeSpan.FromSeconds(10));
    private readonly byte[] _header = new byte[9];

    private RawHttp2Probe(TcpClient client, Stream stream)
    {
        _client = client;
        _stream = stream;
    }

    public static async Task<IReadOnlyDictionary<Http2SettingsParameter, uint>> SettingsAsync(int port, bool tls = false)
    {
        await using RawHttp2Probe probe = await ConnectAsync(port, tls);
        return await probe.ReadServerSettingsAsync();
    }

    /// <summary>Whether the connection on <paramref name="port"/> is served by our engine rather than Kestrel's HTTP/2.</summary>
    public static async Task<bool> ServedByEngineAsync(int port, bool tls = false) =>
        (await SettingsAsync(port, tls)).GetValueOrDefault(Http2SettingsParameter.NoRfc7540Priorities) == 1;

    /// <summary>The header fields of the response to GET <paramref name="path"/>, decoded but not reparsed.</summary>
    public static async Task<IReadOnlyList<(string Name, string Value)>> ResponseHeadersAsync(int port, string path, bool tls = false)
    {
        await using RawHttp2Probe probe = await ConnectAsync(port, tls);
        await probe.ReadServerSettingsAsync();

        var block = new ArrayBufferWriter<byte>();
        var encoder = new HpackEncoder();
        encoder.BeginHeaderBlock(block);
        encoder.EncodeHeader(":method", "GET", block);
        encoder.EncodeHeader(":scheme", tls ? "https" : "http", block);
        encoder.EncodeHeader(":authority", "localhost", block);
        encoder.EncodeHeader(":path", path, block);
        var frames = new ArrayBufferWriter<byte>();
        Http2FrameWriter.WriteSettingsAck(frames);
        Http2FrameWriter.WriteHeaders(frames, 1, block.WrittenSpan, endStream: true, Http2Limits.DefaultMaxFrameSize);
        await probe._stream.WriteAsync(frames.WrittenMemory, probe._timeout.Token);

        var decoder = new HpackDecoder();
        var fields = new FieldList();
        while (true)
        {
            (Http2FrameType type, byte flags, int streamId, byte[] payload) = await probe.ReadFrameAsync();
            if (streamId == 1 && type is Http2FrameType.Headers or Http2FrameType.Continuation)
            {
                bool endHeaders = (flags & 0x4) != 0;
                decoder.Decode(payload, endHeaders, fields);
                if (endHeaders)
                {
                    return fields.Fields;
                }
            }
        }
    }

    private static async Task<RawHttp2Probe> ConnectAsync(int port, bool tls)
    {
        var client = new TcpClient();
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
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

            byte[] preface = [.. Http2Limits.ClientPreface, 0, 0, 0, (byte)Http2FrameType.Settings, 0, 0, 0, 0, 0];
            await stream.WriteAsync(preface, timeout.Token);
            return new RawHttp2Probe(client, stream);
        }
        catch
        {
            client.Dispose();
            throw;
        }
    }

    private async Task<IReadOnlyDictionary<Http2SettingsParameter, uint>> ReadServerSettingsAsync()
    {
        while (true)
        {
            (Http2FrameType type, byte flags, _, byte[] payload) = await ReadFrameAsync();
            if (type == Http2FrameType.Settings && (flags & 0x1) == 0)
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

    private async Task<(Http2FrameType Type, byte Flags, int StreamId, byte[] Payload)> ReadFrameAsync()
    {
        await _stream.ReadExactlyAsync(_header, _timeout.Token);
        var payload = new byte[(_header[0] << 16) | (_header[1] << 8) | _header[2]];
        await _stream.ReadExactlyAsync(payload, _timeout.Token);
        return ((Http2FrameType)_header[3], _header[4], BinaryPrimitives.ReadInt32BigEndian(_header.AsSpan(5)) & int.MaxValue, payload);
    }

    public async ValueTask DisposeAsync()
    {
        await _stream.DisposeAsync();
        _client.Dispose();
        _timeout.Dispose();
    }

    private sealed class FieldList : IHpackHeaderSink
    {
        public List<(string Name, string Value)> Fields { get; } = [];

        public void OnHeader(int staticNameIndex, ReadOnlySpan<byte> name, ReadOnlySpan<byte> value) =>
            Fields.Add((Encoding.ASCII.GetString(name), Encoding.ASCII.GetString(value)));
    }
}
