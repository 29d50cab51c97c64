namespace ProxyFarm;

/// <summary>Which instance of the farm this is ("b1", "b2", …), for the services that tell the caller who answered.</summary>
internal sealed record BackendName(string Name);
