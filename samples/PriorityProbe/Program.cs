using System.Globalization;
using PriorityProbe;

// A raw HTTP/2 client that reads at link speed, for the priority scenarios of build/bench.sh. Prints one result line.
//   PriorityProbe p1 PORT [MB/s]    a u=7 download, then 200 small u=0 requests: their p50/p99 and the download's MB/s
//   PriorityProbe solo PORT [MB/s]  the download alone
//   PriorityProbe p2 PORT [MB/s]    two downloads with RFC 7540 weights 256 and 1: each one's share of the first 32 MiB
if (args.Length < 2 || !int.TryParse(args[1], CultureInfo.InvariantCulture, out int port))
{
    Console.Error.WriteLine("usage: PriorityProbe p1|solo|p2 PORT [MB/s, default 20]");
    return 2;
}

long bytesPerSecond = (long)((args.Length > 2 ? double.Parse(args[2], CultureInfo.InvariantCulture) : 20) * 1e6);
try
{
    string result = args[0] switch
    {
        "p1" => await new UrgentRequestsScenario(smallRequests: 200).RunAsync(port, bytesPerSecond),
        "solo" => await new UrgentRequestsScenario(smallRequests: 0).RunAsync(port, bytesPerSecond),
        "p2" => await new WeightedDownloadsScenario().RunAsync(port, bytesPerSecond),
        _ => throw new ArgumentException($"unknown scenario '{args[0]}'"),
    };
    Console.WriteLine(result);
    return 0;
}
catch (Exception exception)
{
    Console.Error.WriteLine($"{args[0]} port={port} failed: {exception.Message}");
    return 1;
}
