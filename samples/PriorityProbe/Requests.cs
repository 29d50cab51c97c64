namespace PriorityProbe;

/// <summary>The header blocks of the probe's GET requests.</summary>
internal static class Requests
{
    /// <summary>A 100 MiB body from BenchServer: long enough at 20 MB/s (5 s) for every other request to meet it in flight.</summary>
    public const string DownloadPath = "/bytes/104857600";

    public const long DownloadSize = 104_857_600;

    public const string SmallPath = "/hello";

    /// <summary>A GET of <paramref name="path"/>, with an RFC 9218 <c>priority</c> header when one is given.</summary>
    public static byte[] Get(int port, string path, string? priority = null)
    {
        (string, string)[] fields =
        [
            (":method", "GET"),
            (":scheme", "http"),
            (":authority", $"127.0.0.1:{port}"),
            (":path", path),
        ];
        return priority is null ? LiteralHeaderEncoder.Encode(fields) : LiteralHeaderEncoder.Encode([.. fields, ("priority", priority)]);
    }
}
