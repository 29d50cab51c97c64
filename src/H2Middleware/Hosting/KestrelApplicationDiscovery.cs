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
/// </summary>
internal static class KestrelApplicationDiscovery
{
    [UnconditionalSuppressMessage("Trimming", "IL2075", Justification = "Kestrel's handler type is rooted by Kestrel itself.")]
    [UnconditionalSuppressMessage("Trimming", "IL2060", Justification = "The generic argument comes from a live instance.")]
    [UnconditionalSuppressMessage("AOT", "IL3050", Justification = "The generic argument is a reference type the host already instantiated.")]
    public static StreamApplication? TryFind(ConnectionDelegate next)
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

            Type contextType = applicationInterface.GetGenericArguments()[0];
            Type adapterType = typeof(HostedStreamApplication<>).MakeGenericType(contextType);
            return (StreamApplication)Activator.CreateInstance(adapterType, application)!;
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
