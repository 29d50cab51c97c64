using Grpc.Core;
using Grpc.Net.Client;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;

namespace H2Middleware.Tests.EndToEnd;

/// <summary>A Grpc.AspNetCore service behind UseHttp2ServeLoop(), called by Grpc.Net.Client.</summary>
public class GrpcTests : IAsyncLifetime
{
    private KestrelTestHost? _host;
    private GrpcChannel? _channel;

    private CallInvoker Invoker => _channel!.CreateCallInvoker();

    public async Task InitializeAsync()
    {
        _host = await KestrelTestHost.StartAsync(
            app => app.MapGrpcService<GrpcEchoService>(),
            configureServices: services => services.AddGrpc());
        _channel = GrpcChannel.ForAddress(_host.BaseAddress, new GrpcChannelOptions { HttpHandler = new SocketsHttpHandler() });
    }

    public async Task DisposeAsync()
    {
        _channel?.Dispose();
        if (_host is not null)
        {
            await _host.DisposeAsync();
        }
    }

    [Fact]
    public async Task Unary()
    {
        string reply = await Invoker.AsyncUnaryCall(GrpcEchoService.UnaryMethod, null, new CallOptions(), "ping");
        Assert.Equal("echo:ping", reply);
    }

    [Fact]
    public async Task ServerStreaming()
    {
        using var call = Invoker.AsyncServerStreamingCall(GrpcEchoService.ServerStreamMethod, null, new CallOptions(), "50");
        var items = new List<string>();
        await foreach (string item in call.ResponseStream.ReadAllAsync())
        {
            items.Add(item);
        }

        Assert.Equal(Enumerable.Range(0, 50).Select(i => $"item {i}"), items);
        Assert.Equal(StatusCode.OK, call.GetStatus().StatusCode);
    }

    [Fact]
    public async Task ClientStreaming()
    {
        using var call = Invoker.AsyncClientStreamingCall(GrpcEchoService.ClientStreamMethod, null, new CallOptions());
        foreach (string word in new[] { "a", "b", "c" })
        {
            await call.RequestStream.WriteAsync(word);
        }

        await call.RequestStream.CompleteAsync();
        Assert.Equal("a,b,c", await call.ResponseAsync);
    }

    [Fact]
    public async Task BidirectionalStreaming()
    {
        using var call = Invoker.AsyncDuplexStreamingCall(GrpcEchoService.DuplexMethod, null, new CallOptions());
        var replies = new List<string>();
        foreach (string word in new[] { "one", "two", "three" })
        {
            await call.RequestStream.WriteAsync(word);
            Assert.True(await call.ResponseStream.MoveNext(CancellationToken.None));
            replies.Add(call.ResponseStream.Current);
        }

        await call.RequestStream.CompleteAsync();
        Assert.False(await call.ResponseStream.MoveNext(CancellationToken.None));
        Assert.Equal(["ONE", "TWO", "THREE"], replies);
    }

    [Fact]
    public async Task DeadlineExceeded()
    {
        GrpcEchoService.WaitCancelled = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var error = await Assert.ThrowsAsync<RpcException>(async () =>
            await Invoker.AsyncUnaryCall(GrpcEchoService.WaitMethod, null, new CallOptions(deadline: DateTime.UtcNow.AddSeconds(2)), "x"));

        Assert.Equal(StatusCode.DeadlineExceeded, error.StatusCode);
        await GrpcEchoService.WaitCancelled.Task.WaitAsync(TimeSpan.FromSeconds(10));
    }

    [Fact]
    public async Task Cancellation()
    {
        GrpcEchoService.WaitStarted = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        GrpcEchoService.WaitCancelled = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var cancel = new CancellationTokenSource();
        using AsyncUnaryCall<string> call = Invoker.AsyncUnaryCall(GrpcEchoService.WaitMethod, null, new CallOptions(cancellationToken: cancel.Token), "x");
        await GrpcEchoService.WaitStarted.Task.WaitAsync(TimeSpan.FromSeconds(10));
        cancel.Cancel();
        var error = await Assert.ThrowsAsync<RpcException>(async () => await call);

        Assert.Equal(StatusCode.Cancelled, error.StatusCode);
        await GrpcEchoService.WaitCancelled.Task.WaitAsync(TimeSpan.FromSeconds(10));
    }
}
