using H2Middleware.Frames;
using H2Middleware.ServeLoop;

namespace H2Middleware.Telemetry;

/// <summary>
/// Why a connection ended, as a tag value: the name the engine's logs and GOAWAY debug data already use. A GOAWAY for
/// a <see cref="ConnectionEndReason"/> carries its name; any other failing GOAWAY is named by its error code as the
/// logs print it (ProtocolError, …); a connection lost without a GOAWAY gets one of the names below.
/// </summary>
internal static class ConnectionEndTags
{
    /// <summary>GOAWAY(NO_ERROR): a graceful shutdown, never an error.</summary>
    public const string Graceful = "graceful";

    /// <summary>Reading from or writing to the transport failed.</summary>
    public const string TransportFailed = "TransportFailed";

    /// <summary>The client did not acknowledge the keep-alive PING in time.</summary>
    public const string KeepAlivePingTimeout = "KeepAlivePingTimeout";

    /// <summary>The client did not read the connection's closing frames in time.</summary>
    public const string CloseTimeout = "CloseTimeout";

    private static readonly string[] EndReasonNames = Enum.GetNames<ConnectionEndReason>();

    private static readonly string[] ErrorCodeNames = [.. Enum.GetValues<Http2ErrorCode>().Select(code => code.ToString())];

    /// <summary>The cause's name, without formatting the enum.</summary>
    public static string Of(ConnectionEndReason cause) => EndReasonNames[(int)cause];

    /// <summary>The reason a GOAWAY with this error code and debug data gives.</summary>
    public static string OfGoAway(Http2ErrorCode errorCode, string? debugData)
    {
        if (errorCode == Http2ErrorCode.NoError)
        {
            return Graceful;
        }

        foreach (string name in EndReasonNames)
        {
            if (string.Equals(name, debugData, StringComparison.Ordinal))
            {
                return name;
            }
        }

        return (uint)errorCode < (uint)ErrorCodeNames.Length ? ErrorCodeNames[(int)errorCode] : Http2TagValues.Of(errorCode);
    }
}
