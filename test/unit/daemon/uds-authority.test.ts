/**
 * Go gRPC clients of the Kubernetes 1.26 line (kubelet, crictl, critest) send a unix socket's
 * path as `:authority`; Node's HTTP/2 server refuses such a request with RST_STREAM
 * PROTOCOL_ERROR. Header blocks shaped as Go sends them (the path as a literal with incremental
 * indexing, then indexed references to it on the next request; a block split over HEADERS with
 * padding and CONTINUATION) reach a real Node HTTP/2 server through the rewriter, and do not
 * without it.
 */
import * as fs from 'node:fs';
import * as http2 from 'node:http2';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { rewriteAuthority, rewriteHeaderBlock } from '../../../src/daemon/uds-authority';

const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');

function frame(type: number, flags: number, stream: number, payload: Buffer): Buffer {
  const h = Buffer.alloc(9);
  h.writeUIntBE(payload.length, 0, 3);
  h[3] = type;
  h[4] = flags;
  h.writeUInt32BE(stream, 5);
  return Buffer.concat([h, payload]);
}

function literal(nameIndex: number, value: string): Buffer {
  const v = Buffer.from(value);
  return Buffer.concat([Buffer.from([0x40 | nameIndex, v.length]), v]);
}

const SOCKET_PATH = '/run/podvisor/cri.sock';
// :method POST, :scheme http, :path, :authority (the socket path), content-type, te: trailers.
const FIRST = Buffer.concat([
  Buffer.from([0x83, 0x86]),
  literal(4, '/runtime.v1.RuntimeService/Version'),
  literal(1, SOCKET_PATH),
  literal(31, 'application/grpc'),
  Buffer.from([0x40, 2]),
  Buffer.from('te'),
  Buffer.from([8]),
  Buffer.from('trailers'),
]);
// The next request refers to the dynamic table: te (62), content-type (63), :authority (64), :path (65).
const SECOND = Buffer.from([0x83, 0x86, 0x80 | 65, 0x80 | 64, 0x80 | 63, 0x80 | 62]);

let dir: string;
beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pv-uds-authority-'))));
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

/** Send `frames` after the preface and SETTINGS; the requests the server saw (authority and path). */
async function serve(rewrite: boolean, frames: Buffer[]): Promise<string[]> {
  const seen: string[] = [];
  const h2 = http2.createServer();
  h2.on('stream', (stream, headers) => {
    seen.push(`${headers[':authority']} ${headers[':path']}`);
    stream.respond({ ':status': 200 });
    stream.end();
  });
  const sock = path.join(dir, 's.sock');
  const server = net.createServer((s) => h2.emit('connection', rewrite ? rewriteAuthority(s) : s));
  await new Promise<void>((r) => server.listen(sock, r));
  const client = net.connect(sock);
  client.on('data', () => undefined);
  client.on('error', () => undefined);
  client.write(Buffer.concat([PREFACE, frame(0x4, 0, 0, Buffer.alloc(0)), ...frames]));
  await new Promise((r) => setTimeout(r, 300));
  client.destroy();
  await new Promise<void>((r) => server.close(() => r()));
  h2.close();
  return seen;
}

const END_STREAM = 0x1;
const END_HEADERS = 0x4;

test('without the rewriter, Node refuses the socket path as :authority', async () => {
  expect(await serve(false, [frame(0x1, END_STREAM | END_HEADERS, 1, FIRST)])).toEqual([]);
});

test('with it, both requests arrive, the second through the dynamic table', async () => {
  const seen = await serve(true, [
    frame(0x1, END_STREAM | END_HEADERS, 1, FIRST),
    frame(0x1, END_STREAM | END_HEADERS, 3, SECOND),
  ]);
  expect(seen).toEqual([
    'localhost /runtime.v1.RuntimeService/Version',
    'localhost /runtime.v1.RuntimeService/Version',
  ]);
});

test('a block split over a padded HEADERS and a CONTINUATION is rewritten whole', async () => {
  const cut = 40; // inside the :path value
  const padded = Buffer.concat([Buffer.from([3]), FIRST.subarray(0, cut), Buffer.alloc(3)]);
  const seen = await serve(true, [
    frame(0x1, END_STREAM | 0x8, 1, padded),
    frame(0x9, END_HEADERS, 1, FIRST.subarray(cut)),
  ]);
  expect(seen).toEqual(['localhost /runtime.v1.RuntimeService/Version']);
});

test('the new value is never longer than the old; other fields are untouched', () => {
  const short = Buffer.concat([Buffer.from([0x83]), literal(1, '/a.s'), literal(4, '/x')]);
  expect(rewriteHeaderBlock(short)).toEqual(Buffer.concat([Buffer.from([0x83]), literal(1, 'loca'), literal(4, '/x')]));
  const noAuthority = Buffer.concat([Buffer.from([0x83, 0x86]), literal(4, '/p')]);
  expect(rewriteHeaderBlock(noAuthority)).toEqual(noAuthority);
});
