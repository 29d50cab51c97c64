using H2Middleware.ServeLoop;
using H2Middleware.Streams;
using Microsoft.AspNetCore.Hosting.Server.Abstractions;

namespace H2Middleware.Hosting;

/// <summary>
/// A stream that carries the host's per-request context between uses, as Kestrel's streams do: ASP.NET Core hosting
/// then reuses its context and HttpContext objects instead of allocating them per request.
/// </summary>
internal sealed class HostedStream<TContext>(ConnectionPort port) : Http2Stream(port), IHostContextContainer<TContext>
    where TContext : notnull
{
    public TContext? HostContext { get; set; }
}
