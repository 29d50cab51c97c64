using Grpc.Core;
using Grpc.Net.Client;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;

namespace H2Middleware.Tests.EndToEnd;

/// <summary>
/// Grpc.Net.Client against Grpc.AspNetCore behind UseHttp2ServeLoop() with messages of 1 MiB and of 4 MiB − 1 KiB (just
/// under gRPC's default 4 MiB limit), large in one direction at a time, for every kind of call. Grpc.AspNetCore reads a
/// request message by examining the body without consuming it until the whole message has arrived, so a request message
/// larger than the stream's flow-control window only gets through if the engine keeps the window open for it.
/// Every case runs on its own server and channel, so a stalled stream cannot take window from the next case.
/// </summary>
public class GrpcLargeMessageTests
{
    private const int OneMiB = LargePayload.MiB;
    private const int FourMiBLessOneKiB = 4 * LargePayload.MiB - LargePayload.KiB;
    private const int SmallPayload = 64;
    private const int MessagesPerStream = 2;
    private const int Seed = 1000;

    public enum CallKind
    {
        Unary,
        ClientStreaming,
        ServerStreaming,
        Duplex,
    }

    public enum LargeSide
    {
        Request,
        Response,
    }

    [Theory]
    [InlineData(CallKind.Unary, OneMiB, LargeSide.Request, false)]
    [InlineData(CallKind.Unary, OneMiB, LargeSide.Response, false)]
    [InlineData(CallKind.Unary, FourMiBLessOneKiB, LargeSide.Request, false)]
    [InlineData(CallKind.Unary, FourMiBLessOneKiB, LargeSide.Response, false)]
    [InlineData(CallKind.ClientStreaming, OneMiB, LargeSide.Request, false)]
    [InlineData(CallKind.ClientStreaming, OneMiB, LargeSide.Response, false)]
    [InlineData(CallKind.ClientStreaming, FourMiBLessOneKiB, LargeSide.Request, false)]
    [InlineData(CallKind.ClientStreaming, FourMiBLessOneKiB, LargeSide.Response, false)]
    [InlineData(CallKind.ServerStreaming, OneMiB, LargeSide.Request, false)]
    [InlineData(CallKind.ServerStreaming, OneMiB, LargeSide.Response, false)]
    [InlineData(CallKind.ServerStreaming, FourMiBLessOneKiB, LargeSide.Request, false)]
    [InlineData(CallKind.ServerStreaming, FourMiBLessOneKiB, LargeSide.Response, false)]
    [InlineData(CallKind.Duplex, OneMiB, LargeSide.Request, false)]
    [InlineData(CallKind.Duplex, OneMiB, LargeSide.Response, false)]
    [InlineData(CallKind.Duplex, FourMiBLessOneKiB, LargeSide.Request, false)]
    [InlineData(CallKind.Duplex, FourMiBLessOneKiB, LargeSide.Response, false)]
    [InlineData(CallKind.Duplex, FourMiBLessOneKiB, LargeSide.Request, true)]
    [InlineData(CallKind.Duplex, FourMiBLessOneKiB, LargeSide.Response, true)]
    public async Task LargeMessagesCrossTheEngine(CallKind kind, int size, LargeSide large, bool tls)
    {
        await using KestrelTestHost host = await KestrelTestHost.StartAsync(
            app => app.MapGrpcService<GrpcLargeMessageService>(),
            tls,
            configureServices: services => services.AddGrpc());
        var wire = new WireCounter();
        using GrpcChannel channel = GrpcChannel.ForAddress(host.BaseAddress, new GrpcChannelOptions { HttpHandler = wire.CreateHandler() });
        CallInvoker invoker = channel.CreateCallInvoker();

        int payloadSize = large == LargeSide.Request ? size : SmallPayload;
        int replySize = large == LargeSide.Response ? size : 0;
        int sent = 0;
        int received = 0;

        await HangGuard.RunAsync(
            async cancel =>
            {
                var options = new CallOptions(cancellationToken: cancel);
                switch (kind)
                {
                    case CallKind.Unary:
                    {
                        byte[] payload = LargePayload.Create(payloadSize, Seed);
                        byte[] reply = await invoker.AsyncUnaryCall(
                            GrpcLargeMessageServiceBase.UnaryMethod, null, options, LargeMessage.Request(payload, replySize, 1, Seed));
                        received++;
                        AssertReply(reply, LargeMessage.Digest(payload), replySize, Seed);
                        break;
                    }

                    case CallKind.ClientStreaming:
                    {
                        using AsyncClientStreamingCall<byte[], byte[]> call = invoker.AsyncClientStreamingCall(
                            GrpcLargeMessageServiceBase.ClientStreamMethod, null, options);
                        byte[] all = new byte[MessagesPerStream * payloadSize];
                        for (int i = 0; i < MessagesPerStream; i++)
                        {
                            byte[] payload = LargePayload.Create(payloadSize, Seed + i);
                            payload.CopyTo(all, i * payloadSize);
                            await call.RequestStream.WriteAsync(LargeMessage.Request(payload, replySize, 1, Seed), cancel);
                            sent++;
                        }

                        await call.RequestStream.CompleteAsync();
                        byte[] reply = await call.ResponseAsync;
                        received++;
                        AssertReply(reply, LargeMessage.Digest(all), replySize, Seed);
                        Assert.Equal(StatusCode.OK, call.GetStatus().StatusCode);
                        break;
                    }

                    case CallKind.ServerStreaming:
                    {
                        byte[] payload = LargePayload.Create(payloadSize, Seed);
                        using AsyncServerStreamingCall<byte[]> call = invoker.AsyncServerStreamingCall(
                            GrpcLargeMessageServiceBase.ServerStreamMethod, null, options, LargeMessage.Request(payload, replySize, MessagesPerStream, Seed));
                        byte[] digest = LargeMessage.Digest(payload);
                        await foreach (byte[] reply in call.ResponseStream.ReadAllAsync(cancel))
                        {
                            AssertReply(reply, digest, replySize, Seed + received);
                            received++;
                        }

                        Assert.Equal(MessagesPerStream, received);
                        Assert.Equal(StatusCode.OK, call.GetStatus().StatusCode);
                        break;
                    }

                    case CallKind.Duplex:
                    {
                        using AsyncDuplexStreamingCall<byte[], byte[]> call = invoker.AsyncDuplexStreamingCall(
                            GrpcLargeMessageServiceBase.DuplexMethod, null, options);
                        for (int i = 0; i < MessagesPerStream; i++)
                        {
                            byte[] payload = LargePayload.Create(payloadSize, Seed + i);
                            await call.RequestStream.WriteAsync(LargeMessage.Request(payload, replySize, 1, Seed + i), cancel);
                            sent++;
                            Assert.True(await call.ResponseStream.MoveNext(cancel));
                            received++;
                            AssertReply(call.ResponseStream.Current, LargeMessage.Digest(payload), replySize, Seed + i);
                        }

                        await call.RequestStream.CompleteAsync();
                        Assert.False(await call.ResponseStream.MoveNext(cancel));
                        Assert.Equal(StatusCode.OK, call.GetStatus().StatusCode);
                        break;
                    }
                }
            },
            () => $"{kind}: {sent} RequestStream write(s) completed, {received} reply message(s) received; {wire.Progress}");
    }

    private static void AssertReply(byte[] reply, byte[] expectedDigest, int replySize, int seed)
    {
        Assert.Equal(LargeMessage.DigestSize + replySize, reply.Length);
        Assert.Equal(Convert.ToHexString(expectedDigest), Convert.ToHexString(reply, 0, LargeMessage.DigestSize));
        Assert.True(
            reply.AsSpan(LargeMessage.DigestSize).SequenceEqual(LargePayload.Create(replySize, seed)),
            $"the {replySize:N0} generated reply bytes differ from what seed {seed} makes");
    }
}
