using System.Buffers;
using System.Buffers.Binary;
using System.Text;

namespace ConnectionHerd;

/// <summary>
/// The few frames the herd sends (RFC 9113 §3.4, §6), and GET header blocks in the simplest valid HPACK: every field a
/// literal without indexing with a new name, no Huffman (RFC 7541 §6.2.2), so the server's decoder table never changes.
/// </summary>
internal static class RequestFrames
{
    public const byte TypeData = 0x0;
    public const byte TypeHeaders = 0x1;
    public const byte TypeRstStream = 0x3;
    public const byte TypeSettings = 0x4;
    public const byte TypePing = 0x6;
    public const byte TypeGoAway = 0x7;
    public const byte FlagEndStream = 0x1;
    public const byte FlagAck = 0x1;
    public const byte FlagEndHeaders = 0x4;
    public const int FrameHeaderSize = 9;

    public static ReadOnlySpan<byte> Preface => "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"u8;

    /// <summary>An empty SETTINGS frame: the client takes every default.</summary>
    public static void WriteSettings(IBufferWriter<byte> output) => WriteFrame(output, TypeSettings, 0, 0, []);

    public static void WriteSettingsAck(IBufferWriter<byte> output) => WriteFrame(output, TypeSettings, FlagAck, 0, []);

    public static void WritePingAck(IBufferWriter<byte> output, ReadOnlySpan<byte> opaqueData) =>
        WriteFrame(output, TypePing, FlagAck, 0, opaqueData);

    /// <summary>A request without a body: one HEADERS frame with END_HEADERS and END_STREAM.</summary>
    public static void WriteRequest(IBufferWriter<byte> output, int streamId, ReadOnlySpan<byte> headerBlock) =>
        WriteFrame(output, TypeHeaders, FlagEndStream | FlagEndHeaders, streamId, headerBlock);

    public static byte[] GetHeaderBlock(string path, string authority)
    {
        var block = new List<byte>();
        foreach ((string name, string value) in new[] { (":method", "GET"), (":scheme", "http"), (":path", path), (":authority", authority) })
        {
            block.Add(0x00);
            AddString(block, name);
            AddString(block, value);
        }

        return [.. block];
    }

    private static void WriteFrame(IBufferWriter<byte> output, byte type, byte flags, int streamId, ReadOnlySpan<byte> payload)
    {
        Span<byte> frame = output.GetSpan(FrameHeaderSize + payload.Length);
        frame[0] = (byte)(payload.Length >> 16);
        frame[1] = (byte)(payload.Length >> 8);
        frame[2] = (byte)payload.Length;
        frame[3] = type;
        frame[4] = flags;
        BinaryPrimitives.WriteInt32BigEndian(frame[5..], streamId);
        payload.CopyTo(frame[FrameHeaderSize..]);
        output.Advance(FrameHeaderSize + payload.Length);
    }

    /// <summary>A string literal with H = 0; the herd's names and values are short enough for a one-byte length (RFC 7541 §5.2).</summary>
    private static void AddString(List<byte> block, string text)
    {
        byte[] bytes = Encoding.ASCII.GetBytes(text);
        if (bytes.Length >= 0x7F)
        {
            throw new ArgumentException($"'{text}' is too long for the herd's one-byte HPACK string length");
        }

        block.Add((byte)bytes.Length);
        block.AddRange(bytes);
    }
}
