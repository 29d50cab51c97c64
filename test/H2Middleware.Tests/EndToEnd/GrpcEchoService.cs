using System.Text;
using Grpc.Core;

namespace H2Middleware.Tests.EndToEnd;

/// <summary>
/// A gRPC service written without protobuf code generation: UTF-8 string messages and a hand-made binder,
/// so the test exercises exactly the gRPC framing, trailers, deadlines and cancellation over our HTTP/2.
/// </summary>
[BindServiceMethod(typeof(GrpcEchoServiceBase), nameof(BindService))]
public abstract class GrpcEchoServiceBase
{
    private const string ServiceName = "h2middleware.test.Echo";

    private static readonly Marshaller<string> Utf8 = Marshallers.Create(Encoding.UTF8.GetBytes, Encoding.UTF8.GetString);

    public static readonly Method<string, string> UnaryMethod = new(MethodType.Unary, ServiceName, nameof(Unary), Utf8, Utf8);
    public static readonly Method<string, string> ServerStreamMethod = new(MethodType.ServerStreaming, ServiceName, nameof(ServerStream), Utf8, Utf8);
    public static readonly Method<string, string> ClientStreamMethod = new(MethodType.ClientStreaming, ServiceName, nameof(ClientStream), Utf8, Utf8);
    public static readonly Method<string, string> DuplexMethod = new(MethodType.DuplexStreaming, ServiceName, nameof(Duplex), Utf8, Utf8);
    public static readonly Method<string, string> WaitMethod = new(MethodType.Unary, ServiceName, nameof(Wait), Utf8, Utf8);

    public static void BindService(ServiceBinderBase binder, GrpcEchoServiceBase? service)
    {
        binder.AddMethod(UnaryMethod, service is null ? null : service.Unary);
        binder.AddMethod(ServerStreamMethod, service is null ? null : service.ServerStream);
        binder.AddMethod(ClientStreamMethod, service is null ? null : service.ClientStream);
        binder.AddMethod(DuplexMethod, service is null ? null : service.Duplex);
        binder.AddMethod(WaitMethod, service is null ? null : service.Wait);
    }

    public abstract Task<string> Unary(string request, ServerCallContext context);

    public abstract Task ServerStream(string request, IServerStreamWriter<string> responses, ServerCallContext context);

    public abstract Task<string> ClientStream(IAsyncStreamReader<string> requests, ServerCallContext context);

    public abstract Task Duplex(IAsyncStreamReader<string> requests, IServerStreamWriter<string> responses, ServerCallContext context);

    public abstract Task<string> Wait(string request, ServerCallContext context);
}

/// <summary>The implementation: Grpc.AspNetCore binds the methods a derived class declares.</summary>
public sealed class GrpcEchoService : GrpcEchoServiceBase
{
    public static TaskCompletionSource WaitStarted { get; set; } = new();

    public static TaskCompletionSource WaitCancelled { get; set; } = new();

    public override Task<string> Unary(string request, ServerCallContext context) => Task.FromResult("echo:" + request);

    public override async Task ServerStream(string request, IServerStreamWriter<string> responses, ServerCallContext context)
    {
        int count = int.Parse(request);
        for (int i = 0; i < count; i++)
        {
            await responses.WriteAsync($"item {i}");
        }
    }

    public override async Task<string> ClientStream(IAsyncStreamReader<string> requests, ServerCallContext context)
    {
        var all = new List<string>();
        await foreach (string message in requests.ReadAllAsync())
        {
            all.Add(message);
        }

        return string.Join(",", all);
    }

    public override async Task Duplex(IAsyncStreamReader<string> requests, IServerStreamWriter<string> responses, ServerCallContext context)
    {
        await foreach (string message in requests.ReadAllAsync())
        {
            await responses.WriteAsync(message.ToUpperInvariant());
        }
    }

    public override async Task<string> Wait(string request, ServerCallContext context)
    {
        WaitStarted.TrySetResult();
        try
        {
            await Task.Delay(Timeout.Infinite, context.CancellationToken);
        }
        catch (OperationCanceledException)
        {
            WaitCancelled.TrySetResult();
        }

        return "never";
    }
}
