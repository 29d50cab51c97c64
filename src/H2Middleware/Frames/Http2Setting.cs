namespace H2Middleware.Frames;

/// <summary>One parameter/value pair of a SETTINGS frame.</summary>
internal readonly record struct Http2Setting(Http2SettingsParameter Parameter, uint Value);
