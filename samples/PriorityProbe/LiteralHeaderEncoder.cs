using System.Text;

namespace PriorityProbe;

/// <summary>
/// The simplest valid HPACK encoder (RFC 7541 §6.2.2): every field a literal without indexing, with a new name, and
/// no Huffman coding. It never touches the dynamic table, so the server's decoder state cannot drift from ours.
/// </summary>
internal static class LiteralHeaderEncoder
{
    public static byte[] Encode(params ReadOnlySpan<(string Name, string Value)> fields)
    {
        var block = new List<byte>();
        foreach ((string name, string value) in fields)
        {
            block.Add(0x00);
            AddString(block, name);
            AddString(block, value);
        }

        return [.. block];
    }

    /// <summary>A string literal: H = 0 and the length as a 7-bit prefix integer (RFC 7541 §5.1, §5.2), then the bytes.</summary>
    private static void AddString(List<byte> block, string text)
    {
        byte[] bytes = Encoding.ASCII.GetBytes(text);
        int length = bytes.Length;
        if (length < 0x7F)
        {
            block.Add((byte)length);
        }
        else
        {
            block.Add(0x7F);
            for (length -= 0x7F; length >= 0x80; length >>= 7)
            {
                block.Add((byte)((length & 0x7F) | 0x80));
            }

            block.Add((byte)length);
        }

        block.AddRange(bytes);
    }
}
