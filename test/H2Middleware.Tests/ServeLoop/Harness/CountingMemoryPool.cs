using System.Buffers;

namespace H2Middleware.Tests.ServeLoop.Harness;

/// <summary>A memory pool that knows how many bytes are rented and not yet returned, and the most that ever were.</summary>
internal sealed class CountingMemoryPool : MemoryPool<byte>
{
    private long _outstanding;
    private long _peak;

    public long OutstandingBytes => Interlocked.Read(ref _outstanding);

    public long PeakBytes => Interlocked.Read(ref _peak);

    public override int MaxBufferSize => 1024 * 1024;

    public override IMemoryOwner<byte> Rent(int minBufferSize = -1)
    {
        int size = minBufferSize <= 0 ? 4096 : minBufferSize;
        long now = Interlocked.Add(ref _outstanding, size);
        long peak;
        while (now > (peak = Interlocked.Read(ref _peak)) && Interlocked.CompareExchange(ref _peak, now, peak) != peak)
        {
        }

        return new Rental(this, new byte[size]);
    }

    protected override void Dispose(bool disposing)
    {
    }

    private sealed class Rental(CountingMemoryPool pool, byte[] array) : IMemoryOwner<byte>
    {
        private int _disposed;

        public Memory<byte> Memory => array;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _disposed, 1) == 0)
            {
                Interlocked.Add(ref pool._outstanding, -array.Length);
            }
        }
    }
}
