using System.Net.Security;
using System.Security.Authentication;
using Microsoft.AspNetCore.Connections.Features;

namespace H2Middleware.Hosting;

/// <summary>
/// RFC 9113 §9.2: HTTP/2 over TLS needs TLS 1.2 or later and, on TLS 1.2, none of the cipher suites of Appendix A —
/// which leaves the ephemeral key exchanges (ECDHE, DHE) with an AEAD cipher (GCM, ChaCha20-Poly1305, CCM).
/// </summary>
internal static class TlsRequirements
{
    /// <summary>Why the connection's TLS is not good enough for HTTP/2, or null when it is (or there is no TLS).</summary>
    public static string? FindInadequacy(ITlsHandshakeFeature? handshake)
    {
        if (handshake is null || handshake.Protocol == SslProtocols.None)
        {
            return null;
        }

        if (handshake.Protocol is not (SslProtocols.Tls12 or SslProtocols.Tls13))
        {
            return $"HTTP/2 requires TLS 1.2 or later, the connection uses {handshake.Protocol}";
        }

        if (handshake.Protocol == SslProtocols.Tls12 && handshake.NegotiatedCipherSuite is { } suite && !IsAllowedOnTls12(suite))
        {
            return $"the cipher suite {suite} is prohibited for HTTP/2 (RFC 9113 Appendix A)";
        }

        return null;
    }

    private static bool IsAllowedOnTls12(TlsCipherSuite suite)
    {
        string name = suite.ToString();
        bool ephemeral = name.StartsWith("TLS_ECDHE_", StringComparison.Ordinal) || name.StartsWith("TLS_DHE_", StringComparison.Ordinal);
        bool aead = name.Contains("_GCM_", StringComparison.Ordinal) || name.Contains("CHACHA20_POLY1305", StringComparison.Ordinal)
            || name.EndsWith("_CCM", StringComparison.Ordinal) || name.EndsWith("_CCM_8", StringComparison.Ordinal);
        return ephemeral && aead;
    }
}
