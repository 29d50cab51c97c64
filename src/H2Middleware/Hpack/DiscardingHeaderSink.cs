namespace H2Middleware.Hpack;

/// <summary>Takes the fields of a header block that must be decoded (HPACK state is shared) but is not served.</summary>
internal sealed class DiscardingHeaderSink : IHpackHeaderSink
{
    public static readonly DiscardingHeaderSink Instance = new();

    public void OnHeader(int staticNameIndex, ReadOnlySpan<byte> name, ReadOnlySpan<byte> value)
    {
    }
}
