using System.Security.Cryptography;
using Microsoft.AspNetCore.Http;

namespace H2Middleware.Tests.EndToEnd;

/// <summary>An upload handler's answer: the body's length and SHA-256, read through Request.Body in 64 KiB reads.</summary>
internal static class RequestBodyDigest
{
    public static async Task<string> ReadAsync(HttpContext context)
    {
        var buffer = new byte[64 * 1024];
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        long total = 0;
        int read;
        while ((read = await context.Request.Body.ReadAsync(buffer, context.RequestAborted)) > 0)
        {
            hash.AppendData(buffer, 0, read);
            total += read;
        }

        return $"{total}|{Convert.ToHexString(hash.GetHashAndReset())}";
    }
}
