using System.Text;
using H2Middleware.Hpack;

namespace H2Middleware.Tests.Hpack;

/// <summary>Helpers shared by the HPACK tests: hex input and a sink that records what it is given.</summary>
internal static class HpackTestData
{
    public static byte[] Hex(string hex) => Convert.FromHexString(hex.Replace(" ", string.Empty, StringComparison.Ordinal));

    public static List<KeyValuePair<string, string>> Decode(HpackDecoder decoder, byte[] block)
    {
        var sink = new RecordingSink();
        decoder.Decode(block, endHeaders: true, sink);
        return sink.Fields;
    }

    public static KeyValuePair<string, string> Field(string name, string value) => new(name, value);
}

internal sealed class RecordingSink : IHpackHeaderSink
{
    public List<KeyValuePair<string, string>> Fields { get; } = [];

    public List<int> StaticNameIndices { get; } = [];

    public void OnHeader(int staticNameIndex, ReadOnlySpan<byte> name, ReadOnlySpan<byte> value)
    {
        Fields.Add(new(Encoding.Latin1.GetString(name), Encoding.Latin1.GetString(value)));
        StaticNameIndices.Add(staticNameIndex);
    }
}
