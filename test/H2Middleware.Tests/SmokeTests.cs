namespace H2Middleware.Tests;

public class SmokeTests
{
    [Fact]
    public void LibraryAssemblyLoads() => Assert.Equal("H2Middleware", typeof(H2Middleware.Frames.Http2FrameType).Assembly.GetName().Name);
}
