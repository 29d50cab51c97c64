using System.Globalization;
using H2Middleware.Scheduling;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;
using MinDataRate = Microsoft.AspNetCore.Server.Kestrel.Core.MinDataRate;

namespace H2Middleware.Hosting;

/// <summary>
/// Applies what the configuration binder cannot: the data rates (<see cref="MinDataRate"/> is made by its constructor and
/// has no setters, so the binder leaves the default in place), the write scheduler (a delegate, chosen by name), and
/// turning a limit off (configuration cannot say null: JSON's null never reaches the binder). Runs after the binder.
/// A data rate section may give <c>BytesPerSecond</c>, <c>GracePeriod</c> or both (the other keeps its current value);
/// an empty value turns a data rate or <c>MaxRequestBodySize</c> off.
/// </summary>
internal sealed class Http2ServeLoopOptionsConfiguration(IConfiguration configuration) : IConfigureOptions<Http2ServeLoopOptions>
{
    /// <summary>The scheduler names <c>WriteScheduler</c> accepts.</summary>
    public static IReadOnlyDictionary<string, Func<IWriteScheduler>> Schedulers { get; } = new Dictionary<string, Func<IWriteScheduler>>(StringComparer.OrdinalIgnoreCase)
    {
        ["RoundRobin"] = WriteSchedulers.RoundRobin,
        ["Rfc9218"] = WriteSchedulers.Rfc9218,
        ["Random"] = WriteSchedulers.Random,
        ["Rfc7540PriorityTree"] = WriteSchedulers.Rfc7540PriorityTree,
    };

    public void Configure(Http2ServeLoopOptions options)
    {
        options.MinRequestBodyDataRate = ReadDataRate(configuration.GetSection(nameof(Http2ServeLoopOptions.MinRequestBodyDataRate)), options.MinRequestBodyDataRate);
        options.MinResponseDataRate = ReadDataRate(configuration.GetSection(nameof(Http2ServeLoopOptions.MinResponseDataRate)), options.MinResponseDataRate);

        if (configuration[nameof(Http2ServeLoopOptions.MaxRequestBodySize)] is { Length: 0 })
        {
            options.MaxRequestBodySize = null;
        }

        IConfigurationSection scheduler = configuration.GetSection("WriteScheduler");
        if (!string.IsNullOrEmpty(scheduler.Value))
        {
            options.WriteSchedulerFactory = Schedulers.TryGetValue(scheduler.Value, out Func<IWriteScheduler>? factory)
                ? factory
                : throw new InvalidOperationException(
                    $"'{scheduler.Path}' is '{scheduler.Value}'; the write schedulers are {string.Join(", ", Schedulers.Keys)}.");
        }
    }

    private static MinDataRate? ReadDataRate(IConfigurationSection section, MinDataRate? current)
    {
        if (!section.Exists())
        {
            return current;
        }

        if (section.Value is not null)
        {
            return section.Value.Length == 0
                ? null
                : throw new InvalidOperationException($"'{section.Path}' takes BytesPerSecond and GracePeriod, or an empty value to turn the limit off.");
        }

        string? bytesPerSecond = section[nameof(MinDataRate.BytesPerSecond)];
        string? gracePeriod = section[nameof(MinDataRate.GracePeriod)];
        return new MinDataRate(
            bytesPerSecond is null ? current?.BytesPerSecond ?? DefaultBytesPerSecond : double.Parse(bytesPerSecond, CultureInfo.InvariantCulture),
            gracePeriod is null ? current?.GracePeriod ?? DefaultGracePeriod : TimeSpan.Parse(gracePeriod, CultureInfo.InvariantCulture));
    }

    private const double DefaultBytesPerSecond = 240;

    private static readonly TimeSpan DefaultGracePeriod = TimeSpan.FromSeconds(5);
}
