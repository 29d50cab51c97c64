using System.Buffers;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Threading.Channels;

namespace LatencyUpload;

/// <summary>Which way bytes go through a <see cref="DelayingProxy"/>.</summary>
internal enum ProxyDirection
{
    ClientToServer,
    ServerToClient,
}

/// <summary>
/// A TCP proxy on 127.0.0.1 that adds latency and nothing else: each chunk read from one side is written to the other a
/// fixed one-way delay later, however many chunks are on their way (a timestamped queue per direction, so bandwidth is
/// not limited). In front of a server on loopback it makes a long path: 25 ms each way is a 50 ms round trip.
/// </summary>
internal sealed class DelayingProxy : IAsyncDisposable
{
    private const int ChunkSize = 64 * 1024;

    private static readonly TimeSpan Tolerance = TimeSpan.FromMilliseconds(1);

    private readonly Socket _listener;
    private readonly IPEndPoint _target;
    private readonly TimeSpan _oneWayDelay;
    private readonly Action<ProxyDirection, ReadOnlyMemory<byte>>? _clientSide;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _accepting;
    private readonly List<Task> _connections = [];

    /// <param name="clientSide">
    /// Sees the bytes as the client's socket does: those the client wrote, when the proxy reads them, and those it is
    /// given to read, when the proxy delivers them. Called from both directions' tasks at once.
    /// </param>
    public DelayingProxy(IPEndPoint target, TimeSpan oneWayDelay, Action<ProxyDirection, ReadOnlyMemory<byte>>? clientSide = null)
    {
        _target = target;
        _oneWayDelay = oneWayDelay;
        _clientSide = clientSide;
        _listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        _listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        _listener.Listen();
        Port = ((IPEndPoint)_listener.LocalEndPoint!).Port;
        _accepting = AcceptAsync();
    }

    public int Port { get; }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Dispose();
        await _accepting;
        Task[] connections;
        lock (_connections)
        {
            connections = [.. _connections];
        }

        await Task.WhenAll(connections);
        _stop.Dispose();
    }

    private async Task AcceptAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket client;
            try
            {
                client = await _listener.AcceptAsync(_stop.Token);
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException)
            {
                return;
            }

            lock (_connections)
            {
                _connections.Add(RelayAsync(client));
            }
        }
    }

    private async Task RelayAsync(Socket client)
    {
        using Socket clientSocket = client;
        using var server = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            clientSocket.NoDelay = true;
            server.NoDelay = true;
            await server.ConnectAsync(_target, _stop.Token);

            // Each direction ends when its source closes, after delivering what it still holds.
            await Task.WhenAll(
                PumpAsync(clientSocket, server, ProxyDirection.ClientToServer, _stop.Token),
                PumpAsync(server, clientSocket, ProxyDirection.ServerToClient, _stop.Token));
        }
        catch (Exception e) when (e is OperationCanceledException or SocketException)
        {
            // The proxy is stopping, or the server is not there: the client sees its connection close.
        }
    }

    /// <summary>Reads from one side into a queue of chunks stamped with their due time; a second task writes each when it is due.</summary>
    private async Task PumpAsync(Socket from, Socket to, ProxyDirection direction, CancellationToken cancel)
    {
        var queue = Channel.CreateUnbounded<(long Due, byte[] Chunk, int Length)>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
        Task writing = WriteWhenDueAsync(queue.Reader, to, direction, cancel);
        try
        {
            while (true)
            {
                byte[] chunk = ArrayPool<byte>.Shared.Rent(ChunkSize);
                int read = await from.ReceiveAsync(chunk, SocketFlags.None, cancel);
                if (read == 0)
                {
                    ArrayPool<byte>.Shared.Return(chunk);
                    break;
                }

                if (direction == ProxyDirection.ClientToServer)
                {
                    _clientSide?.Invoke(direction, chunk.AsMemory(0, read));
                }

                queue.Writer.TryWrite((Stopwatch.GetTimestamp() + (long)(_oneWayDelay.TotalSeconds * Stopwatch.Frequency), chunk, read));
            }
        }
        catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
        {
            // The proxy is stopping, or this side failed.
        }
        finally
        {
            queue.Writer.TryComplete();
        }

        await writing;
    }

    private async Task WriteWhenDueAsync(ChannelReader<(long Due, byte[] Chunk, int Length)> queue, Socket to, ProxyDirection direction, CancellationToken cancel)
    {
        try
        {
            await foreach ((long due, byte[] chunk, int length) in queue.ReadAllAsync(cancel))
            {
                // Timers tick in milliseconds: sleeping for less would cost each chunk a millisecond or two, which
                // limits bandwidth; a chunk that is due within one is written at once.
                TimeSpan wait = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), due);
                if (wait > Tolerance)
                {
                    await Task.Delay(wait, cancel);
                }

                if (direction == ProxyDirection.ServerToClient)
                {
                    _clientSide?.Invoke(direction, chunk.AsMemory(0, length));
                }

                await to.SendAsync(chunk.AsMemory(0, length), SocketFlags.None, cancel);
                ArrayPool<byte>.Shared.Return(chunk);
            }

            // The source closed: close this side's sending half too, as the source did.
            to.Shutdown(SocketShutdown.Send);
        }
        catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
        {
            // The relay is ending.
        }
    }
}
