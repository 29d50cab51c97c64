using System.Diagnostics.CodeAnalysis;
using System.Reflection;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Hosting.Server;

namespace H2Middleware.Hosting;

/// <summary>
/// Finds the host's <see cref="IHttpApplication{TContext}"/> behind Kestrel's own connection handler.
/// Kestrel appends its HTTP handler as the last middleware of every endpoint, holding the application the host
/// passed to <c>IServer.StartAsync</c>; the delegate our middleware receives as "next" is that handler. Reading
/// it there is what lets <c>UseHttp2ServeLoop()</c> work with no other registration, and guarantees the engine runs
/// exactly the application (and hosting pipeline: logging scopes, Activity, metrics) Kestrel would have run.
/// This reads Kestrel's private state: it is the fallback when <c>AddHttp2ServeLoop()</c>, the supported seam
/// (<see cref="Http2ServeLoopApplicationSource"/>), was not called.
/// </summary>
internal static class KestrelApplicationDiscovery
{
    [UnconditionalSuppressMessage("Trimming", "IL2060", Justification = "The generic argument comes from a live instance.")]
    [UnconditionalSuppressMessage("AOT", "IL3050", Justification = "The generic argument is a reference type the host already instantiated.")]
    public static StreamApplication? TryFind(ConnectionDelegate next)
    {
        if (FindApplication(next) is not var (application, contextType))
        {
            return null;
        }

        Type adapterType = typeof(HostedStreamApplication<>).MakeGenericType(contextType);
        return (StreamApplication)Activator.CreateInstance(adapterType, application)!;
    }

    /// <summary>
    /// Whether <paramref name="next"/> looks like Kestrel's terminal HTTP handler (it holds an application), that is,
    /// whether the middleware built with it is the endpoint's last.
    /// </summary>
    public static bool IsKestrelHandler(ConnectionDelegate next) => FindApplication(next) is not null;

    [UnconditionalSuppressMessage("Trimming", "IL2075", Justification = "Kestrel's handler type is rooted by Kestrel itself.")]
    private static (object Application, Type ContextType)? FindApplication(ConnectionDelegate next)
    {
        object? handler = next.Target;
        if (handler is null)
        {
            return null;
        }

        foreach (FieldInfo field in handler.GetType().GetFields(BindingFlags.Instance | BindingFlags.NonPublic | BindingFlags.Public))
        {
            Type? applicationInterface = FindHttpApplicationInterface(field.FieldType);
            if (applicationInterface is null || field.GetValue(handler) is not { } application)
            {
                continue;
            }

            return (application, applicationInterface.GetGenericArguments()[0]);
        }

        return null;
    }

    [UnconditionalSuppressMessage("Trimming", "IL2070", Justification = "Interfaces of Kestrel's own field types.")]
    private static Type? FindHttpApplicationInterface(Type type)
    {
        if (type.IsGenericType && type.GetGenericTypeDefinition() == typeof(IHttpApplication<>))
        {
            return type;
        }

        foreach (Type candidate in type.GetInterfaces())
        {
            if (candidate.IsGenericType && candidate.GetGenericTypeDefinition() == typeof(IHttpApplication<>))
            {
                return candidate;
            }
        }

        return null;
    }
}
