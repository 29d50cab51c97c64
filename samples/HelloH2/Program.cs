using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using H2Middleware.Scheduling;

// h2c (prior knowledge) on 127.0.0.1:5080 and TLS with ALPN h2 on 127.0.0.1:5443, both served by H2Middleware;
// HTTP/1.1 on either port still goes to Kestrel.
var builder = WebApplication.CreateBuilder(args);
X509Certificate2 certificate = CreateSelfSignedCertificate();
builder.WebHost.ConfigureKestrel(kestrel =>
{
    kestrel.Listen(IPAddress.Loopback, 5080, listen => listen.UseHttp2ServeLoop());
    kestrel.Listen(IPAddress.Loopback, 5443, listen =>
    {
        listen.UseHttps(certificate);
        listen.UseHttp2ServeLoop(options => options.MaxStreamsPerConnection = 200);
    });
});

var app = builder.Build();

app.MapGet("/", (HttpContext context) =>
    $"Hello over {context.Request.Protocol} from {(context.Features.Get<IHttp2StreamPriorityFeature>() is null ? "Kestrel" : "H2Middleware")}\n");
app.MapGet("/hello", () => "Hello, world!");
app.MapPost("/echo", async (HttpContext context) => await context.Request.Body.CopyToAsync(context.Response.Body));

app.Run();

static X509Certificate2 CreateSelfSignedCertificate()
{
    using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
    var request = new CertificateRequest("CN=localhost", key, HashAlgorithmName.SHA256);
    var names = new SubjectAlternativeNameBuilder();
    names.AddDnsName("localhost");
    names.AddIpAddress(IPAddress.Loopback);
    request.CertificateExtensions.Add(names.Build());
    using X509Certificate2 certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(30));
    return X509CertificateLoader.LoadPkcs12(certificate.Export(X509ContentType.Pkcs12), password: null);
}
