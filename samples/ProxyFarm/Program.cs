using System.Runtime.InteropServices;
using ProxyFarm;

// YARP on 127.0.0.1:5090 in front of three backends (5091, 5092, 5093) served by H2Middleware, all in this process.
await using Farm farm = await Farm.StartAsync(proxyPort: 5090, backendPorts: [5091, 5092, 5093]);
Console.WriteLine($"Proxy on {farm.ProxyAddress}, backends {string.Join(", ", farm.Backends.Keys)}.");
Console.WriteLine("Type a backend's name and Enter to drain it; Ctrl+C to stop.");

using var stop = new CancellationTokenSource();
using var ctrlC = PosixSignalRegistration.Create(PosixSignal.SIGINT, Stop);
using var terminate = PosixSignalRegistration.Create(PosixSignal.SIGTERM, Stop);

_ = Task.Run(async () =>
{
    while (await Console.In.ReadLineAsync(stop.Token) is { } line)
    {
        string name = line.Trim();
        if (!farm.InRotation.Contains(name))
        {
            Console.WriteLine($"In the rotation: {string.Join(", ", farm.InRotation)}.");
            continue;
        }

        await farm.RemoveFromProxyAsync(name, stop.Token);
        Console.WriteLine($"{name} is out of the proxy's rotation and idle; stopping it.");
        await farm.StopBackendAsync(name, stop.Token);
        Console.WriteLine($"{name} stopped.");
    }
});

await Task.Delay(Timeout.Infinite, stop.Token).ContinueWith(_ => { }, TaskScheduler.Default);

// Ctrl+C or SIGTERM: leave through the await using above, which stops the proxy, then the backends, gracefully.
void Stop(PosixSignalContext signal)
{
    signal.Cancel = true;
    stop.Cancel();
}
