namespace H2Middleware.Tests.Packaging;

/// <summary>
/// The package test builds and runs a separate application: it runs alone, after the others, so its two cores of build
/// work do not disturb tests that measure time. Leave it out with <c>--filter Category!=Package</c>.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class PackageCollection
{
    public const string Name = "Package";
}
