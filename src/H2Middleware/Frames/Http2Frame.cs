using System.Buffers;

namespace H2Middleware.Frames;

/// <summary>
/// One parsed frame. The payload is a slice of the buffer it was read from, not a copy: it is valid only until
/// the reader of that buffer is advanced past it. Type-specific fields are decoded; the rest read as zero.
/// </summary>
internal readonly struct Http2Frame
{
    // The type-specific fields share two slots: which one a slot holds depends on the frame type.
    private readonly int _first;   // dependency, last-stream-id, increment, promised or prioritized stream id
    private readonly uint _second; // error code, or weight | exclusive | has-priority bits
    private readonly ulong _pingData;
    private readonly int _flowControlledLength;

    private const uint HasPriorityBit = 0x1000;
    private const uint ExclusiveBit = 0x2000;
    private const uint WeightMask = 0x1FF;

    private Http2Frame(Http2FrameHeader header, ReadOnlySequence<byte> payload, int first, uint second, ulong pingData, int flowControlledLength)
    {
        Header = header;
        Payload = payload;
        _first = first;
        _second = second;
        _pingData = pingData;
        _flowControlledLength = flowControlledLength;
    }

    public Http2FrameHeader Header { get; }

    public Http2FrameType Type => Header.Type;

    public Http2FrameFlags Flags => Header.Flags;

    public int StreamId => Header.StreamId;

    public bool HasFlag(Http2FrameFlags flag) => Header.HasFlag(flag);

    public bool EndStream => Type is Http2FrameType.Data or Http2FrameType.Headers && HasFlag(Http2FrameFlags.EndStream);

    public bool EndHeaders => Type is Http2FrameType.Headers or Http2FrameType.PushPromise or Http2FrameType.Continuation && HasFlag(Http2FrameFlags.EndHeaders);

    public bool IsAck => Type is Http2FrameType.Settings or Http2FrameType.Ping && HasFlag(Http2FrameFlags.Ack);

    /// <summary>
    /// DATA: the data without padding. HEADERS, PUSH_PROMISE, CONTINUATION: the header block fragment. GOAWAY: the debug
    /// data. PRIORITY_UPDATE: the priority field value. SETTINGS and unknown types: the raw payload. Others: empty.
    /// </summary>
    public ReadOnlySequence<byte> Payload { get; }

    /// <summary>DATA: the whole payload length, padding included, which is what flow control counts (§6.1).</summary>
    public int FlowControlledLength => _flowControlledLength;

    public bool HasPriority => (_second & HasPriorityBit) != 0;

    public int StreamDependency => HasPriority ? _first : 0;

    public bool IsExclusive => (_second & ExclusiveBit) != 0;

    /// <summary>1 to 256: the wire value plus one.</summary>
    public int Weight => HasPriority ? (int)(_second & WeightMask) : 0;

    public Http2ErrorCode ErrorCode => Type is Http2FrameType.RstStream or Http2FrameType.GoAway ? (Http2ErrorCode)_second : Http2ErrorCode.NoError;

    public int LastStreamId => Type == Http2FrameType.GoAway ? _first : 0;

    public int WindowSizeIncrement => Type == Http2FrameType.WindowUpdate ? _first : 0;

    public ulong PingData => _pingData;

    public int PromisedStreamId => Type == Http2FrameType.PushPromise ? _first : 0;

    public int PrioritizedStreamId => Type == Http2FrameType.PriorityUpdate ? _first : 0;

    public Http2SettingsEnumerator Settings => Type == Http2FrameType.Settings ? new Http2SettingsEnumerator(Payload) : default;

    public static Http2Frame Plain(Http2FrameHeader header, ReadOnlySequence<byte> payload) => new(header, payload, 0, 0, 0, 0);

    public static Http2Frame Data(Http2FrameHeader header, ReadOnlySequence<byte> data) => new(header, data, 0, 0, 0, header.PayloadLength);

    public static Http2Frame WithPriority(Http2FrameHeader header, ReadOnlySequence<byte> fragment, bool hasPriority, int dependency, bool exclusive, int weight) =>
        new(header, fragment, dependency, hasPriority ? HasPriorityBit | (exclusive ? ExclusiveBit : 0) | (uint)weight : 0, 0, 0);

    public static Http2Frame WithErrorCode(Http2FrameHeader header, int lastStreamId, Http2ErrorCode errorCode, ReadOnlySequence<byte> debugData) =>
        new(header, debugData, lastStreamId, (uint)errorCode, 0, 0);

    public static Http2Frame WithStreamId(Http2FrameHeader header, int streamIdField, ReadOnlySequence<byte> payload) => new(header, payload, streamIdField, 0, 0, 0);

    public static Http2Frame Ping(Http2FrameHeader header, ulong data) => new(header, default, 0, 0, data, 0);
}
