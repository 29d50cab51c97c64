using System.Reflection;
using H2Middleware.Hosting;
using H2Middleware.Protocol;
using H2Middleware.ServeLoop;
using H2Middleware.Streams;
using NetArchTest.Rules;

namespace H2Middleware.Tests.Architecture;

/// <summary>
/// The serve loop's state is touched by the serve loop only, and the types say so: code that runs on handler threads
/// (the stream's features, body pipes, the application runner) cannot name a loop-owned type. It reaches the loop only
/// through its <see cref="ConnectionPort"/> and the messages it posts.
/// </summary>
public class LoopOwnershipTests
{
    private static readonly Assembly Engine = typeof(Http2Stream).Assembly;

    /// <summary>What handler-side code may use of the serve loop's namespace: the port, the messages, the log.</summary>
    private static readonly Type[] Port = [typeof(ConnectionPort), typeof(ServeLoopMessage), typeof(ServeLoopMessageKind), typeof(Http2Log)];

    /// <summary>
    /// Everything the serve loop owns: every type of its namespace but the port, the protocol state machines and
    /// windows, the write side, the scheduler seam (schedulers are called on the loop only), and a connection's metrics.
    /// </summary>
    private static string[] LoopOwnedTypeNames() =>
        Engine.GetTypes()
            .Where(type => type.Namespace is "H2Middleware.ServeLoop" or "H2Middleware.Protocol" or "H2Middleware.Protocol.FlowControl" or "H2Middleware.Output"
                || type == typeof(H2Middleware.Scheduling.IWriteScheduler)
                || type == typeof(H2Middleware.Scheduling.IScheduledStream)
                || type == typeof(H2Middleware.Telemetry.ConnectionMetrics))
            .Where(type => !Port.Contains(type) && !type.IsNested)
            .Select(type => type.FullName!)
            .ToArray();

    /// <summary>The types whose code runs on handler threads: the stream side and the application runner.</summary>
    private static PredicateList HandlerSideTypes() =>
        Types.InAssembly(Engine)
            .That().ResideInNamespace("H2Middleware.Streams")
            .Or().HaveName(typeof(HostedStream<>).Name)
            .Or().HaveName(typeof(HostedStreamApplication<>).Name)
            .Or().HaveName(nameof(StreamApplication))
            .Or().HaveName(nameof(AltSvcStreamApplication));

    [Fact]
    public void TheLoopOwnsTheTypesThisTestGuards()
    {
        string[] owned = LoopOwnedTypeNames();
        Assert.Contains(typeof(StreamEntry).FullName, owned);
        Assert.Contains(typeof(Http2Connection).FullName, owned);
        Assert.Contains(typeof(H2Middleware.Protocol.StreamLifecycle).FullName, owned);
        Assert.Contains(typeof(H2Middleware.Telemetry.ConnectionMetrics).FullName, owned);
        Assert.DoesNotContain(typeof(ConnectionPort).FullName, owned);
    }

    [Fact]
    public void TheRuleCoversTheHandlerSide()
    {
        Type[] covered = HandlerSideTypes().GetTypes().ToArray();
        Assert.Contains(typeof(Http2Stream), covered);
        Assert.Contains(typeof(RequestBodyReader), covered);
        Assert.Contains(typeof(ResponseBodyWriter), covered);
        Assert.Contains(typeof(HostedStream<>), covered);
        Assert.Contains(typeof(HostedStreamApplication<>), covered);
        Assert.Contains(typeof(StreamApplication), covered);
        Assert.Contains(typeof(AltSvcStreamApplication), covered);
    }

    [Fact]
    public void HandlerSideTypesCannotReachLoopOwnedTypes()
    {
        TestResult result = HandlerSideTypes()
            .ShouldNot().HaveDependencyOnAny(LoopOwnedTypeNames())
            .GetResult();

        Assert.True(result.IsSuccessful, "Handler-side types that name loop-owned types: " + string.Join(", ", result.FailingTypeNames ?? []));
    }

    [Fact]
    public void TheRuleCatchesATypeThatDoesReachTheLoop()
    {
        // The rule applied to the loop itself must fail, or it checks nothing.
        TestResult result = Types.InAssembly(Engine)
            .That().HaveName(nameof(StreamEntry))
            .ShouldNot().HaveDependencyOnAny(LoopOwnedTypeNames())
            .GetResult();

        Assert.False(result.IsSuccessful);
    }
}
