namespace H2Middleware.Tests;

/// <summary>Tests that measure the whole process (heap, timing under load) run in this collection, after the others and alone.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class SoloCollection
{
    public const string Name = "Solo";
}
