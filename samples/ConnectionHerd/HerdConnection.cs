using System.Buffers;
using System.Net;
using System.Net.Sockets;

namespace ConnectionHerd;

/// <summary>
/// One cleartext HTTP/2 connection (prior knowledge) that does as little as a client can: the preface and an empty
/// SETTINGS, perhaps one GET read to its end, perhaps requests the server holds open. A read loop discards what the
/// server sends, answering its SETTINGS and PINGs, and notes any end of a held stream or of the connection: the
/// measurement is only valid while every connection and held stream is still there.
/// </summary>
internal sealed class HerdConnection : IDisposable
{
    /// <summary>Small: the loop scans frames as they pass and keeps none (<see cref="FrameScanner"/>).</summary>
    private const int ReceiveBufferSize = 2048;

    private const int FirstRequestStreamId = 1;

    private readonly Socket _socket;
    private readonly SemaphoreSlim _sendLock = new(1, 1);
    private readonly TaskCompletionSource _settingsExchanged = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _firstResponseEnded = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private bool _serverSettingsSeen;
    private bool _ourSettingsAcknowledged;
    private int _nextStreamId = FirstRequestStreamId;
    private volatile bool _closing;

    private HerdConnection(Socket socket)
    {
        _socket = socket;
    }

    /// <summary>Whether the server closed the connection or sent GOAWAY.</summary>
    public bool Lost { get; private set; }

    /// <summary>Held requests the server ended (a response's END_STREAM or RST_STREAM) while they should be waiting.</summary>
    public int EndedHeldStreams { get; private set; }

    /// <summary>
    /// Connects, sends the preface, an empty SETTINGS and, when <paramref name="getHeaderBlock"/> is given, a GET; returns
    /// once SETTINGS went both ways and the GET's response has ended.
    /// </summary>
    public static async Task<HerdConnection> OpenAsync(IPEndPoint endPoint, byte[]? getHeaderBlock, CancellationToken cancellationToken)
    {
        // Linger 0: closing resets, so ten thousand closes leave no TIME_WAIT behind to hold ports between runs.
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp)
        {
            NoDelay = true,
            LingerState = new LingerOption(true, 0),
        };
        var connection = new HerdConnection(socket);
        try
        {
            await socket.ConnectAsync(endPoint, cancellationToken);
            var start = new ArrayBufferWriter<byte>(256);
            start.Write(RequestFrames.Preface);
            RequestFrames.WriteSettings(start);
            if (getHeaderBlock is not null)
            {
                RequestFrames.WriteRequest(start, connection.TakeStreamId(), getHeaderBlock);
            }
            else
            {
                connection._firstResponseEnded.SetResult();
            }

            await connection.SendAsync(start.WrittenMemory);
            _ = connection.ReadLoopAsync();
            await Task.WhenAll(connection._settingsExchanged.Task, connection._firstResponseEnded.Task).WaitAsync(cancellationToken);
            return connection;
        }
        catch
        {
            connection.Dispose();
            throw;
        }
    }

    /// <summary>Sends <paramref name="count"/> GETs at once, each on a new stream, whose responses the server holds back.</summary>
    public async Task SendHeldRequestsAsync(byte[] headerBlock, int count)
    {
        var requests = new ArrayBufferWriter<byte>(count * (RequestFrames.FrameHeaderSize + headerBlock.Length));
        for (int i = 0; i < count; i++)
        {
            RequestFrames.WriteRequest(requests, TakeStreamId(), headerBlock);
        }

        try
        {
            await SendAsync(requests.WrittenMemory);
        }
        catch (Exception exception) when (exception is SocketException or ObjectDisposedException)
        {
            OnConnectionEnded();
        }
    }

    public void Dispose()
    {
        _closing = true;
        _socket.Dispose();
        _sendLock.Dispose();
    }

    private int TakeStreamId()
    {
        int id = _nextStreamId;
        _nextStreamId += 2;
        return id;
    }

    private async Task SendAsync(ReadOnlyMemory<byte> bytes)
    {
        await _sendLock.WaitAsync();
        try
        {
            while (!bytes.IsEmpty)
            {
                bytes = bytes[await _socket.SendAsync(bytes, SocketFlags.None)..];
            }
        }
        finally
        {
            _sendLock.Release();
        }
    }

    private async Task ReadLoopAsync()
    {
        byte[] buffer = new byte[ReceiveBufferSize];
        var scanner = new FrameScanner();
        var replies = new ArrayBufferWriter<byte>(64);
        try
        {
            while (true)
            {
                int received = await _socket.ReceiveAsync(buffer, SocketFlags.None);
                if (received == 0)
                {
                    break;
                }

                scanner.Scan(buffer.AsSpan(0, received), (type, flags, streamId, payloadStart) => OnFrame(type, flags, streamId, payloadStart, replies));
                if (replies.WrittenCount > 0)
                {
                    await SendAsync(replies.WrittenMemory);
                    replies.ResetWrittenCount();
                }
            }
        }
        catch (Exception exception) when (exception is SocketException or ObjectDisposedException)
        {
            // The connection ended; whether that was expected is decided below.
        }

        OnConnectionEnded();
    }

    private void OnFrame(byte type, byte flags, int streamId, ReadOnlySpan<byte> payloadStart, ArrayBufferWriter<byte> replies)
    {
        bool endsStream = (flags & RequestFrames.FlagEndStream) != 0;
        switch (type)
        {
            case RequestFrames.TypeSettings when (flags & RequestFrames.FlagAck) != 0:
                _ourSettingsAcknowledged = true;
                break;
            case RequestFrames.TypeSettings:
                RequestFrames.WriteSettingsAck(replies);
                _serverSettingsSeen = true;
                break;
            case RequestFrames.TypePing when (flags & RequestFrames.FlagAck) == 0:
                RequestFrames.WritePingAck(replies, payloadStart);
                break;
            case RequestFrames.TypeHeaders or RequestFrames.TypeData when endsStream:
                OnStreamEnded(streamId, reset: false);
                break;
            case RequestFrames.TypeRstStream:
                OnStreamEnded(streamId, reset: true);
                break;
            case RequestFrames.TypeGoAway:
                OnConnectionEnded();
                break;
        }

        if (_serverSettingsSeen && _ourSettingsAcknowledged)
        {
            _settingsExchanged.TrySetResult();
        }
    }

    private void OnStreamEnded(int streamId, bool reset)
    {
        if (streamId != FirstRequestStreamId || _firstResponseEnded.Task.IsCompleted)
        {
            EndedHeldStreams++;
        }
        else if (reset)
        {
            _firstResponseEnded.TrySetException(new IOException("the server reset the first request"));
        }
        else
        {
            _firstResponseEnded.TrySetResult();
        }
    }

    private void OnConnectionEnded()
    {
        if (_closing)
        {
            return;
        }

        Lost = true;
        var ended = new IOException("the server ended the connection");
        _settingsExchanged.TrySetException(ended);
        _firstResponseEnded.TrySetException(ended);
    }
}
