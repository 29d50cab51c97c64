using Grpc.Core;

namespace BenchServer;

/// <summary>S5's unary method: a reply about as small as the request, so that the call's cost is the protocol's.</summary>
internal sealed class BenchGreeter : Greeter.GreeterBase
{
    public override Task<HelloReply> SayHello(HelloRequest request, ServerCallContext context) =>
        Task.FromResult(new HelloReply { Message = "Hi " + request.Name });
}
