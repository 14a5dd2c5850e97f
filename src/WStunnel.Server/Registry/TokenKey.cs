using System.Security.Cryptography;
using System.Text;

namespace WStunnel.Server.Registry;

/// <summary>
/// A token as the gateway keeps it: the SHA-256 of its UTF-8 bytes. Lookups by hash take the same
/// time whatever the token; the short <see cref="Fingerprint"/> is what logs show.
/// </summary>
internal readonly record struct TokenKey(UInt128 High, UInt128 Low)
{
    public static TokenKey From(string token)
    {
        Span<byte> hash = stackalloc byte[32];
        var length = Encoding.UTF8.GetByteCount(token);
        var bytes = length <= 512 ? stackalloc byte[length] : new byte[length];
        Encoding.UTF8.GetBytes(token, bytes);
        SHA256.HashData(bytes, hash);
        CryptographicOperations.ZeroMemory(bytes);
        return new TokenKey(
            System.Buffers.Binary.BinaryPrimitives.ReadUInt128BigEndian(hash),
            System.Buffers.Binary.BinaryPrimitives.ReadUInt128BigEndian(hash[16..]));
    }

    /// <summary>Eight hex digits of the hash: enough to tell tunnels apart in logs, useless to an attacker.</summary>
    public string Fingerprint => ((uint)(High >> 96)).ToString("x8", System.Globalization.CultureInfo.InvariantCulture);

    public override string ToString() => Fingerprint;
}
