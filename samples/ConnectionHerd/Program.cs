using System.Diagnostics;
using System.Net;
using ConnectionHerd;

// Opens CONNECTIONS cleartext HTTP/2 connections to 127.0.0.1:PORT and keeps them open, for build/bench-memory.sh.
//   --get PATH              each connection first serves one GET, read to its end (the realistic idle state)
//   --hold PATH STREAMS     then, when told, sends STREAMS more GETs per connection whose handlers wait
//   --concurrency N         connections being opened at once (default 64)
//   --pause-ms N            wait N ms at each step instead of for a line (or end of input) on stdin
// Reports on stdout, one line per step: "connected=N failed=N seconds=S", "holding=STREAMS" and, when closing,
// "closed lost=N ended=N" (connections the server ended, held streams it ended: both 0 in a valid measurement).
HerdOptions options;
try
{
    options = HerdOptions.Parse(args);
}
catch (Exception exception) when (exception is ArgumentException or FormatException)
{
    Console.Error.WriteLine(exception.Message);
    return 2;
}

var endPoint = new IPEndPoint(IPAddress.Loopback, options.Port);
string authority = $"127.0.0.1:{options.Port}";
byte[]? getHeaderBlock = options.GetPath is null ? null : RequestFrames.GetHeaderBlock(options.GetPath, authority);
var connections = new HerdConnection?[options.Connections];
int failed = 0;
string? firstFailure = null;
var clock = Stopwatch.StartNew();
await Parallel.ForEachAsync(
    Enumerable.Range(0, options.Connections),
    new ParallelOptions { MaxDegreeOfParallelism = options.Concurrency },
    async (index, _) =>
    {
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            connections[index] = await HerdConnection.OpenAsync(endPoint, getHeaderBlock, timeout.Token);
        }
        catch (Exception exception) when (exception is IOException or System.Net.Sockets.SocketException or OperationCanceledException)
        {
            Interlocked.Increment(ref failed);
            Interlocked.CompareExchange(ref firstFailure, exception.Message, null);
        }
    });

HerdConnection[] open = [.. connections.OfType<HerdConnection>()];
Console.WriteLine($"connected={open.Length} failed={failed} seconds={clock.Elapsed.TotalSeconds:F1}");
if (firstFailure is not null)
{
    Console.Error.WriteLine($"first failure: {firstFailure}");
}

await PauseAsync();
if (options.HoldPath is not null)
{
    byte[] holdHeaderBlock = RequestFrames.GetHeaderBlock(options.HoldPath, authority);
    await Parallel.ForEachAsync(
        open,
        new ParallelOptions { MaxDegreeOfParallelism = options.Concurrency },
        async (connection, _) => await connection.SendHeldRequestsAsync(holdHeaderBlock, options.HeldStreamsPerConnection));
    Console.WriteLine($"holding={open.Length * options.HeldStreamsPerConnection}");
    await PauseAsync();
}

Console.WriteLine($"closed lost={open.Count(c => c.Lost)} ended={open.Sum(c => c.EndedHeldStreams)}");
foreach (HerdConnection connection in open)
{
    connection.Dispose();
}

return 0;

Task PauseAsync() => options.Pause is { } pause ? Task.Delay(pause) : Console.In.ReadLineAsync();
