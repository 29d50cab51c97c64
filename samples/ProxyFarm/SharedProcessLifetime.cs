using Microsoft.Extensions.Hosting;

namespace ProxyFarm;

/// <summary>
/// The lifetime of each host of the farm. Several hosts share the process, and the default console lifetime would let
/// every one of them stop itself on Ctrl+C at the same moment; with this one the signal is the farm's alone, so it stops
/// the proxy before the backends it forwards to.
/// </summary>
internal sealed class SharedProcessLifetime : IHostLifetime
{
    public Task WaitForStartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
