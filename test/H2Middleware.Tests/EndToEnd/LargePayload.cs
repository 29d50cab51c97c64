using System.Security.Cryptography;

namespace H2Middleware.Tests.EndToEnd;

/// <summary>Deterministic test payloads: both ends of an exchange can make the same bytes from a length and a seed.</summary>
internal static class LargePayload
{
    public const int KiB = 1024;

    public const int MiB = 1024 * 1024;

    public static byte[] Create(int length, int seed)
    {
        var bytes = new byte[length];
        Fill(bytes, seed);
        return bytes;
    }

    public static void Fill(Span<byte> destination, int seed) => new Random(seed).NextBytes(destination);

    public static string Sha256Hex(ReadOnlySpan<byte> data) => Convert.ToHexString(SHA256.HashData(data));
}
