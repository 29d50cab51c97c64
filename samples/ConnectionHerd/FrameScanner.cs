using System.Buffers.Binary;

namespace ConnectionHerd;

/// <summary>
/// Follows frame boundaries in whatever the server sends, however the bytes are split between reads, and keeps only
/// the 9-byte header and the first 8 payload bytes of each frame (enough for a PING's opaque data): the herd discards
/// everything else, so it needs no buffer of a frame's size.
/// </summary>
internal sealed class FrameScanner
{
    public const int KeptPayloadBytes = 8;

    private readonly byte[] _header = new byte[RequestFrames.FrameHeaderSize];
    private readonly byte[] _payloadStart = new byte[KeptPayloadBytes];
    private int _headerFilled;
    private int _payloadLength;
    private int _payloadSeen;

    /// <summary>Called at the end of each frame with its type, flags, stream id and up to 8 first payload bytes.</summary>
    public delegate void FrameHandler(byte type, byte flags, int streamId, ReadOnlySpan<byte> payloadStart);

    public void Scan(ReadOnlySpan<byte> received, FrameHandler onFrame)
    {
        while (!received.IsEmpty)
        {
            if (_headerFilled < _header.Length)
            {
                int take = Math.Min(_header.Length - _headerFilled, received.Length);
                received[..take].CopyTo(_header.AsSpan(_headerFilled));
                _headerFilled += take;
                received = received[take..];
                if (_headerFilled < _header.Length)
                {
                    return;
                }

                _payloadLength = (_header[0] << 16) | (_header[1] << 8) | _header[2];
                _payloadSeen = 0;
            }

            int payloadTake = Math.Min(_payloadLength - _payloadSeen, received.Length);
            if (_payloadSeen < KeptPayloadBytes)
            {
                int keep = Math.Min(KeptPayloadBytes - _payloadSeen, payloadTake);
                received[..keep].CopyTo(_payloadStart.AsSpan(_payloadSeen));
            }

            _payloadSeen += payloadTake;
            received = received[payloadTake..];
            if (_payloadSeen == _payloadLength)
            {
                int streamId = BinaryPrimitives.ReadInt32BigEndian(_header.AsSpan(5)) & int.MaxValue;
                onFrame(_header[3], _header[4], streamId, _payloadStart.AsSpan(0, Math.Min(_payloadLength, KeptPayloadBytes)));
                _headerFilled = 0;
            }
        }
    }
}
