using System.Security.Cryptography.X509Certificates;

namespace H2Middleware.Tests.Configuration;

/// <summary>The test certificate written as a password-protected PFX file, for Kestrel to load from configuration.</summary>
internal sealed class PfxFile : IDisposable
{
    public PfxFile()
    {
        using X509Certificate2 certificate = HelloH2.SelfSignedCertificate.Create();
        File.WriteAllBytes(Path, certificate.Export(X509ContentType.Pkcs12, Password));
    }

    public string Path { get; } = System.IO.Path.Combine(System.IO.Path.GetTempPath(), $"h2middleware-{Guid.NewGuid():N}.pfx");

    public string Password => "test";

    public void Dispose() => File.Delete(Path);
}
