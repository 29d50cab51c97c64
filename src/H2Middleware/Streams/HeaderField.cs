using Microsoft.Extensions.Primitives;

namespace H2Middleware.Streams;

/// <summary>One field of a <see cref="HeaderFieldDictionary"/>: its name as first set, and its values.</summary>
internal readonly struct HeaderField(string name, StringValues value)
{
    public string Name { get; } = name;

    public StringValues Value { get; } = value;
}
