using System.Globalization;
using LatencyUpload;

// Uploads through a delaying proxy (latency, no bandwidth limit) to H2Middleware with adaptive receive windows, to
// H2Middleware with fixed windows and to Kestrel's own HTTP/2, all in this process on 127.0.0.1; for build/bench-latency.sh.
//   LatencyUpload [MiB, default 32] [rounds, default 5] [one-way delay in ms, default 25]
// Each round uploads once to each endpoint, over a new connection, the order rotating from round to round; prints each
// round's MB/s and the medians.
int mebibytes = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 32;
int rounds = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 5;
TimeSpan delay = TimeSpan.FromMilliseconds(args.Length > 2 ? double.Parse(args[2], CultureInfo.InvariantCulture) : 25);

await using UploadServer server = await UploadServer.StartAsync();
var proxies = server.Addresses.ToDictionary(endpoint => endpoint.Key, endpoint => new DelayingProxy(endpoint.Value, delay));
try
{
    byte[] body = new byte[mebibytes * 1024 * 1024];
    Random.Shared.NextBytes(body);
    using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(10));
    var rates = UploadServer.Endpoints.ToDictionary(endpoint => endpoint, _ => new List<double>());
    Console.WriteLine(FormattableString.Invariant($"{mebibytes} MiB uploads, {delay.TotalMilliseconds} ms each way ({2 * delay.TotalMilliseconds} ms round trip), {rounds} rounds"));

    // An unmeasured upload to each endpoint first: the first one pays for JIT compilation.
    foreach (string endpoint in UploadServer.Endpoints)
    {
        await Upload.RunAsync(proxies[endpoint].Port, body, timeout.Token);
    }

    for (int round = 0; round < rounds; round++)
    {
        var line = new List<string>();
        for (int i = 0; i < UploadServer.Endpoints.Count; i++)
        {
            string endpoint = UploadServer.Endpoints[(round + i) % UploadServer.Endpoints.Count];
            double rate = await Upload.RunAsync(proxies[endpoint].Port, body, timeout.Token);
            rates[endpoint].Add(rate);
            line.Add(FormattableString.Invariant($"{endpoint} {rate:F1}"));
        }

        Console.WriteLine($"round {round + 1}: {string.Join(", ", line)} MB/s");
    }

    Console.WriteLine("median: " + string.Join(", ", UploadServer.Endpoints.Select(endpoint => FormattableString.Invariant($"{endpoint} {Median(rates[endpoint]):F1}"))) + " MB/s");
}
finally
{
    foreach (DelayingProxy proxy in proxies.Values)
    {
        await proxy.DisposeAsync();
    }
}

static double Median(List<double> values)
{
    double[] sorted = [.. values.Order()];
    return sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[(sorted.Length / 2) - 1] + sorted[sorted.Length / 2]) / 2;
}
