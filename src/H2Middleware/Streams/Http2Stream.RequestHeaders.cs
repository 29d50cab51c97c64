using System.Text;
using H2Middleware.Hpack;
using Microsoft.AspNetCore.Http;
using Microsoft.Net.Http.Headers;

namespace H2Middleware.Streams;

/// <summary>
/// Receives the fields of the decoded request header block (and later the trailers), on the serve loop, and checks them
/// against RFC 9113 §8.2–8.3. A malformed request is remembered as a reason; the loop answers it with
/// RST_STREAM(PROTOCOL_ERROR).
/// </summary>
internal partial class Http2Stream
{
    [Flags]
    private enum PseudoHeaders : byte
    {
        None = 0,
        Method = 1,
        Scheme = 2,
        Authority = 4,
        Path = 8,
        Protocol = 16,
    }

    private readonly HeaderFieldDictionary _requestHeaders = new();
    private HeaderFieldDictionary? _requestTrailers;
    private PseudoHeaders _pseudoHeadersSeen;
    private bool _sawRegularHeader;
    private bool _decodingTrailers;
    private string? _malformedReason;
    private List<string>? _cookies;
    private string? _host;

    public string Scheme { get; private set; } = string.Empty;

    public string RawTarget { get; private set; } = string.Empty;

    public void BeginTrailers()
    {
        _decodingTrailers = true;
        _requestTrailers ??= new HeaderFieldDictionary();
        _malformedReason = null;
    }

    /// <param name="strings">The connection's string cache (the loop's), which turns the field's bytes into strings.</param>
    public void OnRequestField(int staticNameIndex, ReadOnlySpan<byte> name, ReadOnlySpan<byte> value, HeaderStringCache strings)
    {
        if (_malformedReason is not null)
        {
            return;
        }

        if (name.IsEmpty)
        {
            _malformedReason = "empty field name";
            return;
        }

        if (!HeaderFieldRules.IsValidValue(value))
        {
            _malformedReason = "invalid character or surrounding whitespace in a field value";
            return;
        }

        if (name[0] == (byte)':')
        {
            OnPseudoHeader(staticNameIndex, name, value, strings);
            return;
        }

        if (!HeaderFieldRules.IsValidLowercaseName(name))
        {
            _malformedReason = "invalid or uppercase field name";
            return;
        }

        _sawRegularHeader = true;
        if (HeaderFieldRules.IsConnectionSpecific(name))
        {
            _malformedReason = "connection-specific header field";
            return;
        }

        if (name.SequenceEqual("te"u8) && !value.SequenceEqual("trailers"u8))
        {
            _malformedReason = "te header field other than \"trailers\"";
            return;
        }

        string headerName = strings.GetName(staticNameIndex, name);
        string headerValue = strings.GetValue(headerName, value);
        if (_decodingTrailers)
        {
            _requestTrailers!.Append(headerName, headerValue);
            return;
        }

        if (ReferenceEquals(headerName, HeaderNames.Cookie) || name.SequenceEqual("cookie"u8))
        {
            (_cookies ??= []).Add(headerValue);
            return;
        }

        if (name.SequenceEqual("content-length"u8))
        {
            if (!long.TryParse(headerValue, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out long contentLength)
                || (DeclaredContentLength is { } previous && previous != contentLength))
            {
                _malformedReason = "invalid content-length";
                return;
            }

            DeclaredContentLength = contentLength;
        }

        if (name.SequenceEqual("host"u8))
        {
            _host = headerValue;
        }

        _requestHeaders.Append(headerName, headerValue);
    }

    private void OnPseudoHeader(int staticNameIndex, ReadOnlySpan<byte> name, ReadOnlySpan<byte> value, HeaderStringCache strings)
    {
        if (_decodingTrailers)
        {
            _malformedReason = "pseudo-header field in trailers";
            return;
        }

        if (_sawRegularHeader)
        {
            _malformedReason = "pseudo-header field after a regular field";
            return;
        }

        PseudoHeaders which = staticNameIndex switch
        {
            1 => PseudoHeaders.Authority,
            2 or 3 => PseudoHeaders.Method,
            4 or 5 => PseudoHeaders.Path,
            6 or 7 => PseudoHeaders.Scheme,
            _ => IdentifyPseudoHeader(name),
        };

        if (which == PseudoHeaders.None)
        {
            _malformedReason = "unknown pseudo-header field";
            return;
        }

        if ((_pseudoHeadersSeen & which) != 0)
        {
            _malformedReason = "duplicate pseudo-header field";
            return;
        }

        _pseudoHeadersSeen |= which;
        switch (which)
        {
            case PseudoHeaders.Method:
                if (!HeaderFieldRules.IsToken(value))
                {
                    _malformedReason = "invalid :method";
                    return;
                }

                Method = KnownMethod(value) ?? Encoding.ASCII.GetString(value);
                break;
            case PseudoHeaders.Scheme:
                Scheme = value.SequenceEqual("https"u8) ? "https" : value.SequenceEqual("http"u8) ? "http" : Encoding.ASCII.GetString(value);
                break;
            case PseudoHeaders.Authority:
                Authority = strings.GetValue(HeaderNames.Host, value);
                break;
            case PseudoHeaders.Path:
                RawTarget = strings.GetValue(":path", value);
                break;
            case PseudoHeaders.Protocol:
                if (!HeaderFieldRules.IsToken(value))
                {
                    _malformedReason = "invalid :protocol";
                    return;
                }

                ConnectProtocol = strings.GetValue(":protocol", value);
                break;
        }
    }

    private static PseudoHeaders IdentifyPseudoHeader(ReadOnlySpan<byte> name) => name switch
    {
        _ when name.SequenceEqual(":method"u8) => PseudoHeaders.Method,
        _ when name.SequenceEqual(":scheme"u8) => PseudoHeaders.Scheme,
        _ when name.SequenceEqual(":authority"u8) => PseudoHeaders.Authority,
        _ when name.SequenceEqual(":path"u8) => PseudoHeaders.Path,
        _ when name.SequenceEqual(":protocol"u8) => PseudoHeaders.Protocol,
        _ => PseudoHeaders.None,
    };

    /// <summary>The interned string of a standard method, so that comparisons by reference work and nothing is allocated.</summary>
    private static string? KnownMethod(ReadOnlySpan<byte> method) => method switch
    {
        _ when method.SequenceEqual("GET"u8) => HttpMethods.Get,
        _ when method.SequenceEqual("POST"u8) => HttpMethods.Post,
        _ when method.SequenceEqual("PUT"u8) => HttpMethods.Put,
        _ when method.SequenceEqual("DELETE"u8) => HttpMethods.Delete,
        _ when method.SequenceEqual("HEAD"u8) => HttpMethods.Head,
        _ when method.SequenceEqual("OPTIONS"u8) => HttpMethods.Options,
        _ when method.SequenceEqual("PATCH"u8) => HttpMethods.Patch,
        _ when method.SequenceEqual("CONNECT"u8) => HttpMethods.Connect,
        _ when method.SequenceEqual("TRACE"u8) => HttpMethods.Trace,
        _ => null,
    };

    /// <summary>
    /// Called when the request header block is complete. Returns null for a well-formed request, else why it is malformed.
    /// </summary>
    public string? CompleteRequestHeaders()
    {
        if (_malformedReason is not null)
        {
            return _malformedReason;
        }

        bool isConnect = ReferenceEquals(Method, HttpMethods.Connect);
        SuppressResponseBody = ReferenceEquals(Method, HttpMethods.Head);
        bool hasProtocol = (_pseudoHeadersSeen & PseudoHeaders.Protocol) != 0;
        if (hasProtocol)
        {
            if (ExtendedConnectError(isConnect) is { } protocolError)
            {
                return protocolError;
            }

            // A tunnel has no body size: what crosses it is the protocol's business, not an upload's.
            IsExtendedConnect = true;
            _maxRequestBodySize = null;
        }
        else if (isConnect)
        {
            // RFC 9113 §8.5: CONNECT carries only :method and :authority.
            if ((_pseudoHeadersSeen & (PseudoHeaders.Scheme | PseudoHeaders.Path)) != 0 || (_pseudoHeadersSeen & PseudoHeaders.Authority) == 0)
            {
                return "malformed CONNECT request";
            }
        }
        else
        {
            const PseudoHeaders required = PseudoHeaders.Method | PseudoHeaders.Scheme | PseudoHeaders.Path;
            if ((_pseudoHeadersSeen & required) != required)
            {
                return "missing :method, :scheme or :path";
            }

            if (RawTarget.Length == 0)
            {
                return "empty :path";
            }
        }

        if (_cookies is not null)
        {
            _requestHeaders[HeaderNames.Cookie] = _cookies.Count == 1 ? _cookies[0] : string.Join("; ", _cookies);
        }

        // RFC 9113 §8.3.1: :authority takes the place of Host.
        if (Authority is not null)
        {
            _requestHeaders[HeaderNames.Host] = Authority;
        }
        else if (_host is not null)
        {
            Authority = _host;
        }

        return InitializeRequestTarget(isConnect && !hasProtocol) ? null : "invalid :path";
    }

    /// <summary>
    /// Why a request with <c>:protocol</c> is malformed, or null. Without our SETTINGS_ENABLE_CONNECT_PROTOCOL the field
    /// is undefined (RFC 9113 §8.3); it belongs to CONNECT only, which then carries <c>:scheme</c>, <c>:path</c>
    /// (RFC 8441 §4) and <c>:authority</c> (RFC 9113 §8.3.1).
    /// </summary>
    private string? ExtendedConnectError(bool isConnect)
    {
        if (!_port.Options.EnableExtendedConnect)
        {
            return ":protocol without SETTINGS_ENABLE_CONNECT_PROTOCOL";
        }

        if (!isConnect)
        {
            return ":protocol on a request other than CONNECT";
        }

        const PseudoHeaders required = PseudoHeaders.Scheme | PseudoHeaders.Path | PseudoHeaders.Authority;
        return (_pseudoHeadersSeen & required) != required ? "extended CONNECT without :scheme, :path or :authority" : null;
    }

    /// <summary>Called when a trailer block is complete; returns null when well-formed.</summary>
    public string? CompleteRequestTrailers() => _malformedReason;
}
