using System.Globalization;
using System.Text;
using Grpc.Core;

namespace ProxyFarm;

/// <summary>
/// The gRPC contract, written without protobuf code generation (UTF-8 string messages, a hand-made binder) so that the
/// sample needs no .proto tooling. Grpc.AspNetCore binds the methods that a derived class overrides.
/// </summary>
[BindServiceMethod(typeof(GreeterBase), nameof(BindService))]
internal abstract class GreeterBase
{
    private const string ServiceName = "farm.Greeter";

    private static readonly Marshaller<string> Utf8 = Marshallers.Create(Encoding.UTF8.GetBytes, Encoding.UTF8.GetString);

    /// <summary>Unary: "Hello, {name}"; an empty name fails with InvalidArgument, a trailers-only response.</summary>
    public static readonly Method<string, string> SayHelloMethod = new(MethodType.Unary, ServiceName, nameof(SayHello), Utf8, Utf8);

    /// <summary>Server streaming: the request is a count, each reply one number.</summary>
    public static readonly Method<string, string> CountMethod = new(MethodType.ServerStreaming, ServiceName, nameof(Count), Utf8, Utf8);

    public static void BindService(ServiceBinderBase binder, GreeterBase? service)
    {
        binder.AddMethod(SayHelloMethod, service is null ? null : service.SayHello);
        binder.AddMethod(CountMethod, service is null ? null : service.Count);
    }

    public abstract Task<string> SayHello(string request, ServerCallContext context);

    public abstract Task Count(string request, IServerStreamWriter<string> responses, ServerCallContext context);
}

/// <summary>
/// The service. Every call ends with a <c>backend</c> trailer naming the instance that served it: behind the proxy, it
/// shows both which backend answered and that trailers survive both hops.
/// </summary>
internal sealed class Greeter(BackendName backend) : GreeterBase
{
    public override Task<string> SayHello(string request, ServerCallContext context)
    {
        context.ResponseTrailers.Add("backend", backend.Name);
        if (request.Length == 0)
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, "a name is required"));
        }

        return Task.FromResult($"Hello, {request}");
    }

    public override async Task Count(string request, IServerStreamWriter<string> responses, ServerCallContext context)
    {
        context.ResponseTrailers.Add("backend", backend.Name);
        int count = int.Parse(request, CultureInfo.InvariantCulture);
        for (int i = 1; i <= count; i++)
        {
            await responses.WriteAsync(i.ToString(CultureInfo.InvariantCulture), context.CancellationToken);
        }
    }
}
