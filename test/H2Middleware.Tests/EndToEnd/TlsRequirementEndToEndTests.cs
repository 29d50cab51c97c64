using System.Net;
using System.Net.Http;
using System.Net.Security;
using System.Security.Authentication;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Http;

namespace H2Middleware.Tests.EndToEnd;

/// <summary>RFC 9113 §9.2 with a real TLS stack: TLS 1.2 with an ephemeral AEAD suite serves h2; a prohibited suite gets INADEQUATE_SECURITY.</summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")] // Choosing the client's cipher suites needs OpenSSL (the project runs on Linux).
public class TlsRequirementEndToEndTests
{
    private static HttpClient Tls12Client(KestrelTestHost host, TlsCipherSuite suite)
    {
        var handler = new SocketsHttpHandler
        {
            SslOptions =
            {
                RemoteCertificateValidationCallback = (_, _, _, _) => true,
                EnabledSslProtocols = SslProtocols.Tls12,
                CipherSuitesPolicy = new CipherSuitesPolicy([suite]),
            },
        };
        return new HttpClient(handler)
        {
            BaseAddress = host.BaseAddress,
            DefaultRequestVersion = HttpVersion.Version20,
            DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact,
            Timeout = TimeSpan.FromSeconds(30),
        };
    }

    private static void MapTls(WebApplication app) => app.MapGet("/tls", (HttpContext context) =>
    {
        var handshake = context.Features.Get<ITlsHandshakeFeature>()!;
        return $"{context.Request.Protocol} {handshake.Protocol} {handshake.NegotiatedCipherSuite}";
    });

    [Fact]
    public async Task Tls12WithAnEphemeralAeadSuiteServesHttp2()
    {
        await using var host = await KestrelTestHost.StartAsync(MapTls, tls: true);
        using HttpClient client = Tls12Client(host, TlsCipherSuite.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256);

        string seen = await client.GetStringAsync("/tls");

        Assert.Equal("HTTP/2 Tls12 TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", seen);
    }

    [Fact]
    public async Task Tls12WithAProhibitedSuiteIsRefusedWithInadequateSecurity()
    {
        await using var host = await KestrelTestHost.StartAsync(MapTls, tls: true);

        // curl (OpenSSL, nghttp2) reports the GOAWAY's error code, which HttpClient does not when the handshake fails.
        var (exit, stdout, stderr) = await ExternalProcess.RunAsync("curl",
            ["-sk", "-v", "--http2", "--tlsv1.2", "--tls-max", "1.2", "--ciphers", "ECDHE-ECDSA-AES128-SHA256", $"{host.BaseAddress}tls"]);

        Assert.NotEqual(0, exit);
        Assert.Empty(stdout);
        Assert.True(stderr.Contains("GOAWAY, error=12"), stderr); // 12 is INADEQUATE_SECURITY

    }
}
