using System.Net.Security;
using System.Security.Authentication;
using H2Middleware.Frames;
using H2Middleware.Hosting;
using H2Middleware.Tests.ServeLoop.Harness;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Http;

namespace H2Middleware.Tests.ServeLoop;

/// <summary>RFC 9113 §9.2: TLS below 1.2, or a prohibited TLS 1.2 cipher suite, is a connection error INADEQUATE_SECURITY.</summary>
public class TlsRequirementTests
{
    private sealed class Handshake(SslProtocols protocol, TlsCipherSuite? suite) : ITlsHandshakeFeature
    {
        public SslProtocols Protocol => protocol;

        public TlsCipherSuite? NegotiatedCipherSuite => suite;

        public string HostName => "localhost";

#pragma warning disable SYSLIB0058 // The legacy algorithm properties are part of the interface.
        public CipherAlgorithmType CipherAlgorithm => CipherAlgorithmType.None;

        public int CipherStrength => 0;

        public HashAlgorithmType HashAlgorithm => HashAlgorithmType.None;

        public int HashStrength => 0;

        public ExchangeAlgorithmType KeyExchangeAlgorithm => ExchangeAlgorithmType.None;

        public int KeyExchangeStrength => 0;
#pragma warning restore SYSLIB0058
    }

    public static TheoryData<SslProtocols, TlsCipherSuite?, bool> Cases => new()
    {
        { SslProtocols.Tls13, TlsCipherSuite.TLS_AES_128_GCM_SHA256, true },
        { SslProtocols.Tls12, TlsCipherSuite.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, true },
        { SslProtocols.Tls12, TlsCipherSuite.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, true },
        { SslProtocols.Tls12, TlsCipherSuite.TLS_DHE_RSA_WITH_AES_256_GCM_SHA384, true },
        { SslProtocols.Tls12, TlsCipherSuite.TLS_RSA_WITH_AES_128_GCM_SHA256, false },
        { SslProtocols.Tls12, TlsCipherSuite.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256, false },
#pragma warning disable SYSLIB0039 // TLS 1.1 is named to show it is refused.
        { SslProtocols.Tls11, TlsCipherSuite.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, false },
#pragma warning restore SYSLIB0039
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void OnlyTls12WithEphemeralAeadSuitesOrLaterIsAdequate(SslProtocols protocol, TlsCipherSuite? suite, bool adequate) =>
        Assert.Equal(adequate, TlsRequirements.FindInadequacy(new Handshake(protocol, suite)) is null);

    [Fact]
    public async Task AProhibitedCipherSuiteEndsTheConnectionWithInadequateSecurity()
    {
        await using var client = Http2TestClient.Start(
            context => context.Response.WriteAsync("never"),
            alpnH2: true,
            connectionFeatures: features => features.Set<ITlsHandshakeFeature>(new Handshake(SslProtocols.Tls12, TlsCipherSuite.TLS_RSA_WITH_AES_128_CBC_SHA)));
        await client.SendPrefaceAsync();
        await client.SendSettingsAsync();

        ReceivedFrame goAway = await client.ExpectGoAwayAsync(Http2ErrorCode.InadequateSecurity);

        Assert.Contains("TLS_RSA_WITH_AES_128_CBC_SHA", goAway.GoAwayDebugData);
        await client.ExpectConnectionClosedAsync();
    }
}
