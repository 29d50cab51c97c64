using Microsoft.Extensions.Configuration;

namespace H2Middleware.Hosting;

/// <summary>
/// Which endpoints the engine serves without code, read from the section given to <c>AddHttp2ServeLoop(IConfiguration)</c>:
/// <c>Endpoints</c> lists names of <c>Kestrel:Endpoints</c> entries; <c>AllEndpoints: true</c> takes every entry there
/// and every address the host was given (<c>urls</c>, <c>ASPNETCORE_URLS</c>, <c>ASPNETCORE_HTTP_PORTS</c>, ...).
/// </summary>
internal sealed class ConfiguredEndpoints(IConfiguration configuration)
{
    public IReadOnlyList<string> Names { get; } =
        [.. configuration.GetSection("Endpoints").GetChildren().Select(c => c.Value).OfType<string>().Where(n => n.Length > 0)];

    public bool All { get; } = configuration.GetValue<bool>("AllEndpoints");

    public bool Any => All || Names.Count > 0;
}
