using System.Diagnostics;
using System.Globalization;
using System.Net;

namespace LatencyUpload;

/// <summary>One upload over a new HTTP/2 connection (cleartext, prior knowledge), timed from the request to the answer.</summary>
internal static class Upload
{
    /// <summary>Posts <paramref name="body"/> to <c>/upload</c> on 127.0.0.1:<paramref name="port"/>; returns MB/s (10^6 bytes a second).</summary>
    public static async Task<double> RunAsync(int port, byte[] body, CancellationToken cancel)
    {
        using var handler = new SocketsHttpHandler { EnableMultipleHttp2Connections = false };
        using var client = new HttpClient(handler)
        {
            DefaultRequestVersion = HttpVersion.Version20,
            DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact,
            Timeout = Timeout.InfiniteTimeSpan,
        };
        long started = Stopwatch.GetTimestamp();
        using HttpResponseMessage response = await client.PostAsync(new Uri($"http://127.0.0.1:{port}/upload"), new ByteArrayContent(body), cancel);
        string answer = await response.EnsureSuccessStatusCode().Content.ReadAsStringAsync(cancel);
        TimeSpan elapsed = Stopwatch.GetElapsedTime(started);
        if (long.Parse(answer, CultureInfo.InvariantCulture) != body.Length)
        {
            throw new InvalidOperationException($"the server received {answer} bytes of {body.Length}");
        }

        return body.Length / elapsed.TotalSeconds / 1e6;
    }
}
