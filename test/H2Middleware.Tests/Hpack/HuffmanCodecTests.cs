using H2Middleware.Hpack;

namespace H2Middleware.Tests.Hpack;

public class HuffmanCodecTests
{
    [Theory]
    [InlineData('0', 0b00000u, 5)]
    [InlineData('a', 0b00011u, 5)]
    [InlineData(' ', 0x14u, 6)]
    [InlineData(0, 0x1ff8u, 13)]
    [InlineData(10, 0x3ffffffcu, 30)]
    [InlineData(127, 0xffffffcu, 28)]
    [InlineData(255, 0x3ffffeeu, 26)]
    [InlineData(256, 0x3fffffffu, 30)]
    public void CodesMatchRfc7541AppendixB(int symbol, uint code, int length)
    {
        Assert.Equal((code, length), HuffmanCodec.GetCode(symbol));
    }

    [Fact]
    public void EverySymbolRoundTrips()
    {
        byte[] all = Enumerable.Range(0, 256).Select(i => (byte)i).ToArray();
        var encoded = new byte[HuffmanCodec.GetEncodedLength(all)];
        Assert.Equal(encoded.Length, HuffmanCodec.Encode(all, encoded));

        var decoded = new byte[256];
        Assert.Equal(256, HuffmanCodec.Decode(encoded, decoded));
        Assert.Equal(all, decoded);
    }

    [Theory]
    [InlineData("www.example.com", "f1e3c2e5f23a6ba0ab90f4ff")]
    [InlineData("no-cache", "a8eb10649cbf")]
    [InlineData("custom-key", "25a849e95ba97d7f")]
    [InlineData("Mon, 21 Oct 2013 20:13:21 GMT", "d07abe941054d444a8200595040b8166e082a62d1bff")]
    public void RfcStringsEncodeAndDecode(string text, string hex)
    {
        byte[] expected = Convert.FromHexString(hex);
        var encoded = new byte[64];
        int length = HuffmanCodec.Encode(text.AsSpan(), encoded, toLowercase: false);
        Assert.Equal(expected, encoded[..length]);
        Assert.Equal(expected.Length, HuffmanCodec.GetEncodedLength(text.AsSpan(), toLowercase: false));

        var decoded = new byte[64];
        int decodedLength = HuffmanCodec.Decode(expected, decoded);
        Assert.Equal(text, System.Text.Encoding.ASCII.GetString(decoded, 0, decodedLength));
    }

    [Fact]
    public void LowercasingHappensWhileEncoding()
    {
        var upper = new byte[32];
        var lower = new byte[32];
        int upperLength = HuffmanCodec.Encode("Content-Type".AsSpan(), upper, toLowercase: true);
        int lowerLength = HuffmanCodec.Encode("content-type".AsSpan(), lower, toLowercase: false);
        Assert.Equal(lower[..lowerLength], upper[..upperLength]);
        Assert.Equal(lowerLength, HuffmanCodec.GetEncodedLength("Content-Type".AsSpan(), toLowercase: true));
    }
}
