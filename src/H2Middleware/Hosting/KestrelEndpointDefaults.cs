using System.Reflection;
using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace H2Middleware.Hosting;

/// <summary>
/// <see cref="KestrelServerOptions.ConfigureEndpointDefaults"/> keeps one action and a second call replaces the first; to
/// add ours without dropping the application's, the current one is read from Kestrel's internal property. When it cannot
/// be read, nothing is added and the caller is told.
/// </summary>
internal static class KestrelEndpointDefaults
{
    private static readonly PropertyInfo? Current =
        typeof(KestrelServerOptions).GetProperty("EndpointDefaults", BindingFlags.Instance | BindingFlags.NonPublic);

    public static bool TryAppend(KestrelServerOptions options, Action<ListenOptions> action)
    {
        if (Current?.GetValue(options) is not Action<ListenOptions> previous)
        {
            return false;
        }

        options.ConfigureEndpointDefaults(listenOptions =>
        {
            previous(listenOptions);
            action(listenOptions);
        });
        return true;
    }
}
