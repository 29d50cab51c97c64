namespace H2Middleware.Hpack;

/// <summary>
/// Receives the fields of a decoded header block. The spans are valid only during the call:
/// a sink that keeps a field copies or interns it.
/// </summary>
internal interface IHpackHeaderSink
{
    /// <param name="staticNameIndex">The RFC 7541 Appendix A index (1..61) of the field's name when the
    /// encoder referenced the static table for it, else 0; lets a sink recognise known names without comparing bytes.</param>
    void OnHeader(int staticNameIndex, ReadOnlySpan<byte> name, ReadOnlySpan<byte> value);
}
