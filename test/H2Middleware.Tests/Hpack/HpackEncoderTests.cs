using System.Buffers;
using H2Middleware.Hpack;

namespace H2Middleware.Tests.Hpack;

public class HpackEncoderTests
{
    private static byte[] Encode(HpackEncoder encoder, params (string Name, string Value)[] fields)
    {
        var output = new ArrayBufferWriter<byte>();
        encoder.BeginHeaderBlock(output);
        foreach (var (name, value) in fields)
        {
            encoder.EncodeHeader(name, value, output);
        }

        return output.WrittenSpan.ToArray();
    }

    [Theory]
    [InlineData("authorization")]
    [InlineData("Proxy-Authorization")]
    [InlineData("cookie")]
    [InlineData("Set-Cookie")]
    public void SensitiveFieldsAreNeverIndexed(string name)
    {
        var encoder = new HpackEncoder();
        byte[] block = Encode(encoder, (name, "secret-value"));

        Assert.Equal(0x10, block[0] & 0xF0);
        Assert.Equal(0, encoder.DynamicTableCount);
        Assert.Equal(block, Encode(encoder, (name, "secret-value")));
    }

    [Fact]
    public void SensitiveFlagMakesAnyFieldNeverIndexed()
    {
        var encoder = new HpackEncoder();
        var output = new ArrayBufferWriter<byte>();
        encoder.EncodeHeader("x-token", "abc", output, sensitive: true);
        Assert.Equal(0x10, output.WrittenSpan[0] & 0xF0);
        Assert.Equal(0, encoder.DynamicTableCount);
    }

    [Fact]
    public void NamesGoOutInLowercase()
    {
        var encoder = new HpackEncoder();
        var decoder = new HpackDecoder();
        Assert.Equal([HpackTestData.Field("x-custom-header", "Value")], HpackTestData.Decode(decoder, Encode(encoder, ("X-Custom-Header", "Value"))));
        Assert.Equal([HpackTestData.Field("content-type", "text/plain")], HpackTestData.Decode(decoder, Encode(encoder, ("Content-Type", "text/plain"))));
    }

    [Fact]
    public void ARepeatedFieldIsOneIndexedOctet()
    {
        var encoder = new HpackEncoder();
        Encode(encoder, ("x-app", "one"));
        Assert.Equal([0x80 | 62], Encode(encoder, ("x-app", "one")));
    }

    [Fact]
    public void StaticTableMatchesAreIndexed()
    {
        Assert.Equal([0x82], Encode(new HpackEncoder(), (":method", "GET")));
        var output = new ArrayBufferWriter<byte>();
        new HpackEncoder().EncodeStatus(404, output);
        Assert.Equal([0x8d], output.WrittenSpan.ToArray());
    }

    [Fact]
    public void UncommonStatusRoundTrips()
    {
        var encoder = new HpackEncoder();
        var output = new ArrayBufferWriter<byte>();
        encoder.EncodeStatus(418, output);
        Assert.Equal([HpackTestData.Field(":status", "418")], HpackTestData.Decode(new HpackDecoder(), output.WrittenSpan.ToArray()));
    }

    [Fact]
    public void TableShrinkThenGrowIsSignalledAsTwoUpdatesSmallestFirst()
    {
        var encoder = new HpackEncoder();
        Encode(encoder, ("x-a", "1"));
        encoder.SetPeerHeaderTableSize(100);
        encoder.SetPeerHeaderTableSize(4096);

        byte[] block = Encode(encoder);

        // 001xxxxx size updates: 100, then 4096 (31 + 4065 as a prefix integer).
        Assert.Equal(Convert.FromHexString("3f45" + "3fe11f"), block);
        Assert.Empty(Encode(encoder));
    }

    [Fact]
    public void TableSizeZeroEvictsEverythingAndIsSignalled()
    {
        var encoder = new HpackEncoder();
        var decoder = new HpackDecoder();
        HpackTestData.Decode(decoder, Encode(encoder, ("x-a", "1"), ("x-b", "2")));
        encoder.SetPeerHeaderTableSize(0);

        byte[] block = Encode(encoder, ("x-a", "1"));

        Assert.Equal(0x20, block[0]);
        Assert.Equal([HpackTestData.Field("x-a", "1")], HpackTestData.Decode(decoder, block));
        Assert.Equal(0, encoder.DynamicTableCount);
        Assert.Equal(0, decoder.DynamicTableCount);
    }

    [Fact]
    public void CharactersOutsideLatin1AreRefused()
    {
        var encoder = new HpackEncoder();
        Assert.Throws<InvalidOperationException>(() => encoder.EncodeHeader("x-a", "snow\u2603man", new ArrayBufferWriter<byte>()));
    }
}
