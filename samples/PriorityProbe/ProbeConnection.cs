using System.Buffers;
using System.Buffers.Binary;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace PriorityProbe;

/// <summary>
/// One cleartext HTTP/2 connection (prior knowledge) read like a link of a given speed: a 256 KiB socket receive
/// buffer, reads paced by a <see cref="ReadPacer"/>, and flow-control windows so large, and replenished so early, that
/// they never hold the server back. Only the bottleneck decides when the server's bytes arrive. A reader thread parses
/// frames as it takes them, answers SETTINGS and PING, and tells the observer of DATA and END_STREAM.
/// </summary>
internal sealed class ProbeConnection : IDisposable
{
    /// <summary>
    /// Half the buffer wanted: Linux doubles SO_RCVBUF (man 7 socket), so this gives the 256 KiB kernel buffer
    /// (<c>ss -m</c> shows rb262144) that the scenarios describe. Asking for 256 KiB gave 512 KiB, and the probe then
    /// held up to 445 KB unread (22 ms at 20 MB/s) in front of every response.
    /// </summary>
    private const int ReceiveBufferSize = 128 * 1024;
    private const int StreamWindow = 16 * 1024 * 1024;
    private const int ConnectionWindow = 1024 * 1024 * 1024;

    /// <summary>The size of each read from the socket: small, as a browser on a slow link gets its bytes.</summary>
    private const int ReadChunk = 16 * 1024;

    /// <summary>Window is given back in steps of this, far below the windows, so that neither ever runs low.</summary>
    private const int WindowUpdateStep = 1024 * 1024;

    private const int DefaultWindow = 65_535;
    private const ushort SettingsMaxConcurrentStreams = 0x3;
    private const ushort SettingsInitialWindowSize = 0x4;

    private static readonly byte[] ClientPreface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"u8.ToArray();

    private readonly Socket _socket;
    private readonly ReadPacer _pacer;
    private readonly IStreamObserver _observer;
    private readonly Lock _sendLock = new();
    private readonly Dictionary<int, int> _unreportedStreamBytes = [];
    private readonly TaskCompletionSource<int> _serverMaxConcurrentStreams = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _readerEnded = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _unreportedConnectionBytes;
    private volatile bool _closing;

    private ProbeConnection(Socket socket, ReadPacer pacer, IStreamObserver observer)
    {
        _socket = socket;
        _pacer = pacer;
        _observer = observer;
    }

    /// <summary>
    /// Connects to 127.0.0.1:<paramref name="port"/>, sends the preface, SETTINGS and the connection window, and
    /// returns once the server's SETTINGS have arrived.
    /// </summary>
    public static async Task<ProbeConnection> OpenAsync(int port, long bytesPerSecond, IStreamObserver observer)
    {
        // The receive buffer must be set before connecting: it fixes the window scale the handshake announces.
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp)
        {
            ReceiveBufferSize = ReceiveBufferSize,
            NoDelay = true,
        };
        await socket.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port));
        var connection = new ProbeConnection(socket, new ReadPacer(bytesPerSecond, burstBytes: 4 * ReadChunk), observer);

        var start = new ArrayBufferWriter<byte>();
        start.Write(ClientPreface);
        FrameWriter.WriteSettings(start, (SettingsInitialWindowSize, (uint)StreamWindow));
        FrameWriter.WriteWindowUpdate(start, 0, ConnectionWindow - DefaultWindow);
        connection.Send(start.WrittenSpan);

        var reader = new Thread(connection.ReadFrames) { IsBackground = true, Name = "paced reader" };
        reader.Start();
        await connection.WaitAsync(connection._serverMaxConcurrentStreams.Task, TimeSpan.FromSeconds(10));
        return connection;
    }

    /// <summary>The server's SETTINGS_MAX_CONCURRENT_STREAMS (int.MaxValue if it sets none).</summary>
    public int ServerMaxConcurrentStreams => _serverMaxConcurrentStreams.Task.Result;

    /// <summary>Writes frames, whole, in one socket write.</summary>
    public void Send(ReadOnlySpan<byte> frames)
    {
        lock (_sendLock)
        {
            _socket.Send(frames);
        }
    }

    /// <summary>Waits for <paramref name="condition"/>; fails if the connection ends first or the time runs out.</summary>
    public async Task WaitAsync(Task condition, TimeSpan timeout)
    {
        Task first = await Task.WhenAny(condition, _readerEnded.Task).WaitAsync(timeout);
        await first;
        if (first != condition)
        {
            throw new IOException("The server closed the connection.");
        }
    }

    /// <summary>Cancels the given streams and says goodbye, for a scenario that has seen enough.</summary>
    public void Abandon(params ReadOnlySpan<int> streamIds)
    {
        _closing = true;
        var frames = new ArrayBufferWriter<byte>();
        foreach (int streamId in streamIds)
        {
            FrameWriter.WriteRstStream(frames, streamId, errorCode: 0x8);
        }

        FrameWriter.WriteGoAway(frames, 0, errorCode: 0);
        Send(frames.WrittenSpan);
    }

    public void Dispose()
    {
        _closing = true;
        _socket.Dispose();
    }

    private void ReadFrames()
    {
        try
        {
            byte[] buffer = new byte[256 * 1024];
            int start = 0;
            int end = 0;
            while (true)
            {
                if (buffer.Length - end < ReadChunk)
                {
                    buffer.AsSpan(start, end - start).CopyTo(buffer);
                    end -= start;
                    start = 0;
                }

                int allowed = _pacer.WaitForAllowance(ReadChunk);
                int received = _socket.Receive(buffer.AsSpan(end, allowed));
                if (received == 0)
                {
                    break;
                }

                _pacer.Consume(received);
                end += received;
                start += ProcessFrames(buffer.AsSpan(start, end - start));
            }

            _readerEnded.TrySetResult();
        }
        catch (Exception exception) when (_closing && exception is SocketException or ObjectDisposedException)
        {
            _readerEnded.TrySetResult();
        }
        catch (Exception exception)
        {
            _readerEnded.TrySetException(exception);
        }
    }

    /// <summary>Handles every complete frame of <paramref name="received"/>; returns how many bytes they took.</summary>
    private int ProcessFrames(ReadOnlySpan<byte> received)
    {
        int consumed = 0;
        while (received.Length - consumed >= FrameWriter.HeaderSize)
        {
            ReadOnlySpan<byte> header = received[consumed..];
            int length = (header[0] << 16) | (header[1] << 8) | header[2];
            if (received.Length - consumed < FrameWriter.HeaderSize + length)
            {
                break;
            }

            var type = (FrameType)header[3];
            byte flags = header[4];
            int streamId = BinaryPrimitives.ReadInt32BigEndian(header[5..]) & 0x7FFF_FFFF;
            ProcessFrame(type, flags, streamId, header.Slice(FrameWriter.HeaderSize, length));
            consumed += FrameWriter.HeaderSize + length;
        }

        return consumed;
    }

    private void ProcessFrame(FrameType type, byte flags, int streamId, ReadOnlySpan<byte> payload)
    {
        switch (type)
        {
            case FrameType.Data:
                _observer.OnData(streamId, payload.Length);
                GiveBackWindow(streamId, payload.Length, ended: (flags & FrameFlags.EndStream) != 0);
                if ((flags & FrameFlags.EndStream) != 0)
                {
                    _observer.OnEnd(streamId, Stopwatch.GetTimestamp());
                }

                break;
            case FrameType.Headers when (flags & FrameFlags.EndStream) != 0:
                _observer.OnEnd(streamId, Stopwatch.GetTimestamp());
                break;
            case FrameType.Settings when (flags & FrameFlags.Ack) == 0:
                OnServerSettings(payload);
                break;
            case FrameType.Ping when (flags & FrameFlags.Ack) == 0:
                var pingAck = new ArrayBufferWriter<byte>();
                FrameWriter.WritePingAck(pingAck, payload);
                Send(pingAck.WrittenSpan);
                break;
            case FrameType.RstStream:
                throw new IOException($"The server reset stream {streamId} with error {BinaryPrimitives.ReadUInt32BigEndian(payload)}.");
            case FrameType.GoAway:
                throw new IOException($"The server sent GOAWAY with error {BinaryPrimitives.ReadUInt32BigEndian(payload[4..])}.");
        }
    }

    private void OnServerSettings(ReadOnlySpan<byte> payload)
    {
        int maxConcurrentStreams = int.MaxValue;
        for (; payload.Length >= 6; payload = payload[6..])
        {
            if (BinaryPrimitives.ReadUInt16BigEndian(payload) == SettingsMaxConcurrentStreams)
            {
                maxConcurrentStreams = (int)Math.Min(int.MaxValue, BinaryPrimitives.ReadUInt32BigEndian(payload[2..]));
            }
        }

        var ack = new ArrayBufferWriter<byte>();
        FrameWriter.WriteSettingsAck(ack);
        Send(ack.WrittenSpan);
        _serverMaxConcurrentStreams.TrySetResult(maxConcurrentStreams);
    }

    /// <summary>Returns consumed DATA to both windows in <see cref="WindowUpdateStep"/>s; an ended stream needs no more.</summary>
    private void GiveBackWindow(int streamId, int length, bool ended)
    {
        ArrayBufferWriter<byte>? updates = null;
        _unreportedConnectionBytes += length;
        if (_unreportedConnectionBytes >= WindowUpdateStep)
        {
            updates = new ArrayBufferWriter<byte>();
            FrameWriter.WriteWindowUpdate(updates, 0, _unreportedConnectionBytes);
            _unreportedConnectionBytes = 0;
        }

        if (ended)
        {
            _unreportedStreamBytes.Remove(streamId);
        }
        else
        {
            int streamBytes = _unreportedStreamBytes.GetValueOrDefault(streamId) + length;
            if (streamBytes >= WindowUpdateStep)
            {
                updates ??= new ArrayBufferWriter<byte>();
                FrameWriter.WriteWindowUpdate(updates, streamId, streamBytes);
                streamBytes = 0;
            }

            _unreportedStreamBytes[streamId] = streamBytes;
        }

        if (updates is not null)
        {
            Send(updates.WrittenSpan);
        }
    }
}
