var builder = WebApplication.CreateBuilder(args);
var app = builder.Build();
app.MapGet("/", () => "H2Middleware: the serve loop is not wired in yet; this sample runs on Kestrel's own HTTP/2.\n");
app.Run();
