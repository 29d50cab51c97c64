using System.Text;
using H2Middleware.Hpack;

namespace H2Middleware.Tests.Hpack;

public class HeaderStringCacheTests
{
    [Fact]
    public void StaticNamesAreTheTablesStrings()
    {
        var cache = new HeaderStringCache();
        Assert.Same(HpackStaticTable.Name(58), cache.GetName(58, "user-agent"u8));
    }

    [Fact]
    public void OtherNamesAreRememberedPerConnection()
    {
        var cache = new HeaderStringCache();
        string first = cache.GetName(0, "x-my-header"u8);
        Assert.Equal("x-my-header", first);
        Assert.Same(first, cache.GetName(0, "x-my-header"u8));
        Assert.Same(cache.GetName(0, "grpc-timeout"u8), cache.GetName(0, "grpc-timeout"u8));
    }

    [Fact]
    public void ARepeatedValueIsTheSameStringAndAChangedOneIsNew()
    {
        var cache = new HeaderStringCache();
        string first = cache.GetValue("user-agent", "curl/8.0"u8);
        Assert.Same(first, cache.GetValue("user-agent", "curl/8.0"u8));

        string changed = cache.GetValue("user-agent", "curl/8.1"u8);
        Assert.Equal("curl/8.1", changed);
        Assert.NotSame(first, changed);
    }

    /// <summary>Octets beyond ASCII are read as UTF-8 when they are (as Kestrel reads them), else one character each.</summary>
    [Theory]
    [InlineData(new byte[] { 0x4A, 0xC3, 0xBC, 0x72, 0x67, 0x65, 0x6E }, "Jürgen")]
    [InlineData(new byte[] { 0x63, 0x61, 0x66, 0xE9 }, "café")]
    [InlineData(new byte[] { 0x61, 0x62, 0x63 }, "abc")]
    public void ValuesBeyondAsciiAreUtf8WhenTheyAreUtf8(byte[] value, string expected)
    {
        var cache = new HeaderStringCache();

        Assert.Equal(expected, cache.GetValue("x-name", value));
    }

    [Fact]
    public void AReleasedCacheMakesItsStringsAgainAndThenReusesThem()
    {
        var cache = new HeaderStringCache();
        string name = cache.GetName(0, "x-my-header"u8);
        string value = cache.GetValue("user-agent", "curl/8.0"u8);

        cache.Release();
        string nameAgain = cache.GetName(0, "x-my-header"u8);
        string valueAgain = cache.GetValue("user-agent", "curl/8.0"u8);

        Assert.Equal(name, nameAgain);
        Assert.NotSame(name, nameAgain);
        Assert.Equal(value, valueAgain);
        Assert.NotSame(value, valueAgain);
        Assert.Same(nameAgain, cache.GetName(0, "x-my-header"u8));
        Assert.Same(valueAgain, cache.GetValue("user-agent", "curl/8.0"u8));
    }

    [Fact]
    public void NonAsciiValuesDecodeAsLatin1()
    {
        var cache = new HeaderStringCache();
        Assert.Equal("caf\u00e9", cache.GetValue("x-a", Encoding.Latin1.GetBytes("caf\u00e9")));
    }
}
