using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;

namespace H2Middleware.Tests.ServeLoop.Harness;

/// <summary>The smallest host application: a DefaultHttpContext per request, handed to a RequestDelegate.</summary>
internal sealed class DelegateApplication(RequestDelegate handler) : IHttpApplication<HttpContext>
{
    public HttpContext CreateContext(IFeatureCollection contextFeatures) => new DefaultHttpContext(contextFeatures);

    public Task ProcessRequestAsync(HttpContext context) => handler(context);

    public void DisposeContext(HttpContext context, Exception? exception)
    {
    }
}
