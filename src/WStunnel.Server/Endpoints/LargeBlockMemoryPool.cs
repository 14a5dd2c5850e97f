using System.Buffers;
using System.Runtime.InteropServices;
using Microsoft.AspNetCore.Connections;

namespace WStunnel.Server.Endpoints;

/// <summary>
/// Kestrel's buffers with <c>UseWStunnelMemoryPool</c> (which says why): 32 KiB pinned blocks,
/// reused, a bounded number kept.
/// </summary>
internal sealed class LargeBlockMemoryPool : MemoryPool<byte>
{
    public const int BlockSize = 32 * 1024;

    // Blocks kept for reuse, per pool (Kestrel makes one per I/O queue); past this, returned blocks go
    // to the garbage collector, so a burst does not pin its peak for the life of the process.
    private const int MaxRetainedBlocks = 128;

    // Last in, first out: the block reused next is the one most likely still in the CPU's cache.
    private readonly Stack<Block> _free = new(MaxRetainedBlocks);
    private readonly Lock _lock = new();
    private volatile bool _disposed;

    public override int MaxBufferSize => BlockSize;

    /// <summary>Blocks waiting for reuse.</summary>
    internal int RetainedBlocks
    {
        get
        {
            lock (_lock)
            {
                return _free.Count;
            }
        }
    }

    public override IMemoryOwner<byte> Rent(int minBufferSize = -1)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan(minBufferSize, BlockSize);
        ObjectDisposedException.ThrowIf(_disposed, this);
        Block? block;
        lock (_lock)
        {
            _free.TryPop(out block);
        }

        if (block is null)
        {
            return new Block(this);
        }

        block.Lease();
        return block;
    }

    protected override void Dispose(bool disposing)
    {
        _disposed = true;
        lock (_lock)
        {
            _free.Clear();
        }
    }

    private void Return(Block block)
    {
        lock (_lock)
        {
            if (!_disposed && _free.Count < MaxRetainedBlocks)
            {
                _free.Push(block);
            }
        }
    }

    /// <summary>Creates Kestrel's pools: registered in the application's services, Kestrel's transports take it.</summary>
    internal sealed class Factory : IMemoryPoolFactory<byte>
    {
        public MemoryPool<byte> Create(MemoryPoolOptions? options = null) => new LargeBlockMemoryPool();
    }

    private sealed class Block : IMemoryOwner<byte>
    {
        private readonly LargeBlockMemoryPool _pool;
        private int _leased = 1;

        public Block(LargeBlockMemoryPool pool)
        {
            _pool = pool;
            // On the pinned heap: sockets and TLS use it without pinning it on every call.
            Memory = MemoryMarshal.CreateFromPinnedArray(GC.AllocateUninitializedArray<byte>(BlockSize, pinned: true), 0, BlockSize);
        }

        public Memory<byte> Memory { get; }

        public void Lease() => Volatile.Write(ref _leased, 1);

        public void Dispose()
        {
            // Returned once, however often it is disposed: a block queued twice would have two owners.
            if (Interlocked.Exchange(ref _leased, 0) == 1)
            {
                _pool.Return(this);
            }
        }
    }
}
