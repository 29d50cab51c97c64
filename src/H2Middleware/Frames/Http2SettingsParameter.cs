namespace H2Middleware.Frames;

/// <summary>SETTINGS parameters of RFC 9113 §6.5.2, RFC 8441 §3 and RFC 9218 §2.1.</summary>
internal enum Http2SettingsParameter : ushort
{
    HeaderTableSize = 0x1,
    EnablePush = 0x2,
    MaxConcurrentStreams = 0x3,
    InitialWindowSize = 0x4,
    MaxFrameSize = 0x5,
    MaxHeaderListSize = 0x6,
    EnableConnectProtocol = 0x8,
    NoRfc7540Priorities = 0x9,
}
