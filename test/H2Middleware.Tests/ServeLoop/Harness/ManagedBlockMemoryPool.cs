using System.Buffers;

namespace H2Middleware.Tests.ServeLoop.Harness;

/// <summary>Blocks made by a MemoryManager: TryGetArray fails on them.</summary>
internal sealed class ManagedBlockMemoryPool : MemoryPool<byte>
{
    public override int MaxBufferSize => 4096;

    public override IMemoryOwner<byte> Rent(int minBufferSize = -1) => new Block();

    protected override void Dispose(bool disposing)
    {
    }

    private sealed class Block : MemoryManager<byte>
    {
        private readonly byte[] _bytes = new byte[4096];

        public override Span<byte> GetSpan() => _bytes;

        public override MemoryHandle Pin(int elementIndex = 0) => throw new NotSupportedException();

        public override void Unpin()
        {
        }

        protected override void Dispose(bool disposing)
        {
        }
    }
}
