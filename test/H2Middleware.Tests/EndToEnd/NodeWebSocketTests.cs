namespace H2Middleware.Tests.EndToEnd;

/// <summary>
/// RFC 8441 with an independent client: Node's http2 (nghttp2 underneath) opens an extended CONNECT once it has seen
/// SETTINGS_ENABLE_CONNECT_PROTOCOL, and speaks RFC 6455 frames, written by hand, through the tunnel.
/// </summary>
public class NodeWebSocketTests
{
    private const string Script = """
        const http2 = require('http2');
        const base = process.argv[1];
        const session = http2.connect(base, { rejectUnauthorized: false });
        session.on('error', e => { console.error(e); process.exit(2); });
        const frame = (opcode, payload) => {
          const mask = Buffer.from([1, 2, 3, 4]);
          const masked = Buffer.from(payload.map((b, i) => b ^ mask[i % 4]));
          return Buffer.concat([Buffer.from([0x80 | opcode, 0x80 | payload.length]), mask, masked]);
        };
        session.once('remoteSettings', settings => {
          if (!settings.enableConnectProtocol) { console.error('no SETTINGS_ENABLE_CONNECT_PROTOCOL'); process.exit(4); }
          const tunnel = session.request({
            ':method': 'CONNECT', ':protocol': 'websocket', ':scheme': base.startsWith('https') ? 'https' : 'http',
            ':path': '/echo?id=node', 'sec-websocket-version': '13' });
          let status = 0; let received = Buffer.alloc(0); const messages = [];
          tunnel.on('response', h => {
            status = h[':status'];
            tunnel.write(frame(0x1, [...Buffer.from('hello from node')]));
          });
          tunnel.on('data', chunk => {
            received = Buffer.concat([received, chunk]);
            while (received.length >= 2 && received.length >= 2 + (received[1] & 0x7f)) {
              const length = received[1] & 0x7f;
              messages.push({ opcode: received[0] & 0x0f, payload: received.subarray(2, 2 + length) });
              received = received.subarray(2 + length);
              const last = messages[messages.length - 1];
              if (last.opcode === 0x1) {
                tunnel.write(frame(0x8, [0x03, 0xe8, ...Buffer.from('node done')]));
              } else if (last.opcode === 0x8) {
                tunnel.end();
              }
            }
          });
          tunnel.on('end', () => {
            const text = messages.find(m => m.opcode === 0x1);
            const close = messages.find(m => m.opcode === 0x8);
            console.log([status, text && text.payload.toString(), close && close.payload.readUInt16BE(0), close && close.payload.subarray(2).toString()].join('|'));
            session.close();
          });
          tunnel.on('error', e => { console.error(e); process.exit(3); });
        });
        """;

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task NodeOpensAWebSocketOverExtendedConnect(bool tls)
    {
        var app = new WebSocketTestApp();
        await using var host = await KestrelTestHost.StartAsync(app.Configure, tls);

        var (exit, stdout, stderr) = await ExternalProcess.RunAsync("node", ["-e", Script, host.BaseAddress.ToString().TrimEnd('/')]);

        Assert.True(exit == 0, stderr);
        Assert.Equal("200|hello from node|1000|node done", stdout.Trim());
        Assert.Equal("closed NormalClosure node done", await app.OutcomeOf("node"));
        Assert.Empty(app.Violations);
    }
}
