using System.Security.Cryptography;

namespace WStunnel.Bench.Harness;

/// <summary>
/// The bytes every large body in the benchmark consists of: one fixed 64 KiB block, repeated. The
/// backend serves it without computing anything, and the harness can hash what it should get.
/// </summary>
internal static class Pattern
{
    public const int BlockSize = 64 * 1024;

    public static ReadOnlyMemory<byte> Block { get; } = MakeBlock();

    public static string Sha256Of(long length)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        for (long done = 0; done < length; done += BlockSize)
        {
            hash.AppendData(Block.Span[..(int)Math.Min(BlockSize, length - done)]);
        }

        return Convert.ToHexStringLower(hash.GetHashAndReset());
    }

    private static byte[] MakeBlock()
    {
        var block = new byte[BlockSize];
        new Random(20261125).NextBytes(block);
        return block;
    }
}
