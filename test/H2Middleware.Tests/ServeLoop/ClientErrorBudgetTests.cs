using H2Middleware.Frames;
using H2Middleware.Tests.ServeLoop.Harness;
using Microsoft.AspNetCore.Http;

namespace H2Middleware.Tests.ServeLoop;

/// <summary>Client errors that cost work without progress draw on one budget; running it dry ends the connection.</summary>
public class ClientErrorBudgetTests
{
    private static readonly (string, string) BigField = ("x-big", new string('a', 4000));

    [Fact]
    public async Task OversizedHeaderListsGet431UntilTheBudgetThenGoAway()
    {
        await using var client = await Http2TestClient.ConnectAsync(
            context => context.Response.WriteAsync("ok"),
            o => o.MaxRequestHeaderListSize = 2048);

        int id = 1;
        for (int i = 0; i < 8; i++, id += 2)
        {
            await client.SendGetAsync(id, "/", true, BigField);
            Assert.Equal("431", (await client.ReadResponseAsync(id)).Status);
        }

        await client.SendGetAsync(id, "/", true, BigField);

        ReceivedFrame goAway = await client.ExpectGoAwayAsync(Http2ErrorCode.EnhanceYourCalm);
        Assert.Equal("MaxRequestHeadersTotalSizeExceeded", goAway.GoAwayDebugData);
        await client.ExpectConnectionClosedAsync();
    }

    [Fact]
    public async Task CompletedResponsesRefillTheBudget()
    {
        await using var client = await Http2TestClient.ConnectAsync(
            context => context.Response.WriteAsync("ok"),
            o => o.MaxRequestHeaderListSize = 2048);

        for (int i = 0, id = 1; i < 30; i++, id += 4)
        {
            await client.SendGetAsync(id, "/", true, BigField);
            Assert.Equal("431", (await client.ReadResponseAsync(id)).Status);
            await client.SendGetAsync(id + 2);
            Assert.Equal("ok", (await client.ReadResponseAsync(id + 2)).BodyText);
        }
    }

    [Fact]
    public async Task ProvokedStreamErrorsExhaustTheBudget()
    {
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var client = await Http2TestClient.ConnectAsync(async _ => await release.Task, o => o.ClientErrorBudget = 4);

        // MadeYouReset: every request is valid until a frame makes us reset it; its handler keeps running.
        int id = 1;
        for (int i = 0; i < 4; i++, id += 2)
        {
            await client.SendPostAsync(id);
            await client.SendWindowUpdateAsync(id, int.MaxValue);
            await client.ExpectRstStreamAsync(id, Http2ErrorCode.FlowControlError);
        }

        await client.SendPostAsync(id);
        await client.SendWindowUpdateAsync(id, int.MaxValue);

        ReceivedFrame goAway = await client.ExpectGoAwayAsync(Http2ErrorCode.EnhanceYourCalm);
        Assert.Equal("WindowUpdateSizeInvalid", goAway.GoAwayDebugData);
        release.SetResult();
    }

    [Fact]
    public async Task MalformedRequestsExhaustTheBudget()
    {
        await using var client = await Http2TestClient.ConnectAsync(context => context.Response.WriteAsync("ok"), o => o.ClientErrorBudget = 3);
        var malformed = Http2TestClient.RequestHeaders("GET", "/");
        malformed.Add(new("Upper-Case", "x"));

        int id = 1;
        for (int i = 0; i < 3; i++, id += 2)
        {
            await client.SendRawHeadersAsync(id, malformed, endStream: true);
            await client.ExpectRstStreamAsync(id, Http2ErrorCode.ProtocolError);
        }

        await client.SendRawHeadersAsync(id, malformed, endStream: true);

        ReceivedFrame goAway = await client.ExpectGoAwayAsync(Http2ErrorCode.EnhanceYourCalm);
        Assert.Equal("InvalidRequestHeaders", goAway.GoAwayDebugData);
    }
}
