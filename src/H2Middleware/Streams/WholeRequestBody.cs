using System.Buffers;
using System.Runtime.InteropServices;

namespace H2Middleware.Streams;

/// <summary>
/// A request body that arrived whole (its first DATA frame carried it all, with END_STREAM) before the handler first
/// used its body reader: the serve loop copies it into one block of the connection's pool and the handler reads it from
/// there, without the request pipe's lock, segments, flushes and reset, and without reporting back what it consumed
/// (the loop gives the window back at once: the stream takes no more DATA, and one block is all a stream holds this
/// way). Which way a body goes is decided once, by whichever side comes first: the loop handing over a whole body, or
/// the handler's first use of its reader, after which the body goes through the pipe.
/// </summary>
internal sealed class WholeRequestBody(MemoryPool<byte> pool)
{
    /// <summary>One block of Kestrel's pool: with any pool, at most this much per stream is held outside the connection window.</summary>
    private readonly int _maxLength = Math.Min(4096, pool.MaxBufferSize);

    private const int Undecided = 0;
    private const int ThroughPipe = 1;
    private const int InBlock = 2;

    private int _route;
    private IMemoryOwner<byte>? _block;
    private ReadOnlySequence<byte> _body;

    /// <summary>On the serve loop: whether it took the body into the block (the request pipe then stays unused).</summary>
    public bool IsTaken => _route == InBlock;

    /// <summary>
    /// On the serve loop: takes a whole body into a block, unless the handler has started on the pipe or the body does
    /// not fit one block. The bytes are in place before the route is published.
    /// </summary>
    public bool TryTake(in ReadOnlySequence<byte> body)
    {
        if (Volatile.Read(ref _route) != Undecided || body.IsEmpty || body.Length > _maxLength)
        {
            return false;
        }

        int length = (int)body.Length;
        IMemoryOwner<byte> block = pool.Rent(length);
        if (!MemoryMarshal.TryGetArray<byte>(block.Memory, out ArraySegment<byte> array))
        {
            block.Dispose();
            return false;
        }

        body.CopyTo(array.AsSpan());
        _block = block;
        _body = new ReadOnlySequence<byte>(array.Array!, array.Offset, length);
        if (Interlocked.CompareExchange(ref _route, InBlock, Undecided) == Undecided)
        {
            return true;
        }

        Release();
        return false;
    }

    /// <summary>On the handler's side, at its first use of the reader: the body if the loop took it, else the pipe from now on.</summary>
    public bool TryClaim(out ReadOnlySequence<byte> body)
    {
        bool taken = Interlocked.CompareExchange(ref _route, ThroughPipe, Undecided) == InBlock;
        body = taken ? _body : default;
        return taken;
    }

    /// <summary>On the serve loop, once nothing of the handler reads the body any more: the block goes back to the pool.</summary>
    public void Release()
    {
        _block?.Dispose();
        _block = null;
        _body = default;
    }

    /// <summary>On the serve loop, when the stream object is reused.</summary>
    public void Reset()
    {
        Release();
        _route = Undecided;
    }
}
