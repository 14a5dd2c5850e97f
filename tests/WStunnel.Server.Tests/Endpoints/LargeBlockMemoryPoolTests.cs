using System.Buffers;
using System.Runtime.InteropServices;
using WStunnel.Server.Endpoints;

namespace WStunnel.Server.Tests.Endpoints;

/// <summary>Kestrel's buffers with <c>UseWStunnelMemoryPool</c>: 32 KiB pinned blocks, reused, a bounded number kept.</summary>
public sealed class LargeBlockMemoryPoolTests
{
    [Fact]
    public void Rent_gives_a_whole_block_whatever_size_is_asked()
    {
        using var pool = new LargeBlockMemoryPool();
        using var any = pool.Rent();
        using var small = pool.Rent(100);

        Assert.Equal(LargeBlockMemoryPool.BlockSize, pool.MaxBufferSize);
        Assert.Equal(LargeBlockMemoryPool.BlockSize, any.Memory.Length);
        Assert.Equal(LargeBlockMemoryPool.BlockSize, small.Memory.Length);
        Assert.Throws<ArgumentOutOfRangeException>(() => pool.Rent(LargeBlockMemoryPool.BlockSize + 1));
    }

    [Fact]
    public void A_returned_block_is_the_next_one_rented()
    {
        using var pool = new LargeBlockMemoryPool();
        var first = pool.Rent();
        var array = ArrayOf(first);
        first.Dispose();

        using var second = pool.Rent();
        Assert.Same(array, ArrayOf(second));
    }

    [Fact]
    public void A_block_disposed_twice_is_returned_once()
    {
        using var pool = new LargeBlockMemoryPool();
        var block = pool.Rent();
        block.Dispose();
        block.Dispose();

        Assert.Equal(1, pool.RetainedBlocks);
        using var a = pool.Rent();
        using var b = pool.Rent();
        Assert.NotSame(ArrayOf(a), ArrayOf(b));
    }

    [Fact]
    public void At_most_128_returned_blocks_are_kept_for_reuse()
    {
        using var pool = new LargeBlockMemoryPool();
        var blocks = Enumerable.Range(0, 200).Select(_ => pool.Rent()).ToList();
        Assert.Equal(200, blocks.Select(ArrayOf).Distinct().Count());

        blocks.ForEach(block => block.Dispose());
        Assert.Equal(128, pool.RetainedBlocks);
    }

    [Fact]
    public void A_disposed_pool_keeps_nothing_and_rents_nothing()
    {
        var pool = new LargeBlockMemoryPool();
        var block = pool.Rent();
        pool.Rent().Dispose();
        pool.Dispose();
        block.Dispose();

        Assert.Equal(0, pool.RetainedBlocks);
        Assert.Throws<ObjectDisposedException>(() => pool.Rent());
    }

    private static byte[] ArrayOf(IMemoryOwner<byte> block) =>
        MemoryMarshal.TryGetArray<byte>(block.Memory, out var segment) ? segment.Array! : throw new InvalidOperationException("not array-backed");
}
