namespace PriorityProbe;

/// <summary>The RFC 7540 §5.3 priority fields a HEADERS frame may carry: a parent stream and a weight of 1 to 256.</summary>
internal readonly record struct StreamDependency(int ParentStreamId, int Weight, bool Exclusive);
