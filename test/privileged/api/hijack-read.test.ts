/**
 * A hijacked stream's first bytes never reach docker-py in the same read as the 101 (issue 41,
 * src/api/v1.41/peer-read.ts). docker-py reads the 101 through a buffered reader and the stream
 * from the socket itself, so output that came with the 101 was lost: here a route writes its
 * output at once after openRawStream, the worst case (a short exec's `id -u` under load), and
 * docker-py (Debian's python3-docker) must get every byte, over the unix socket and over TLS.
 * Needs the host helper host/out/podvisor-hijack-wait (the bootstrap builds it).
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { planListeners, serveOn, type ApiServer } from '../../../src/daemon/listen';
import { frame, openRawStream } from '../../../src/api/v1.41/hijack';
import { hijackWaitBinary } from '../../../src/api/v1.41/peer-read';
import { defaultOptions } from '../../../src/daemon/options';
import { makeTlsFiles, type TlsFiles } from '../../helpers/tls-certs';

jest.setTimeout(120000);

const SCRIPT = path.join(__dirname, 'docker_py_exec_start.py');
const OUTPUT = '1000\n';

/** An exec start whose process has printed its output before the 101 is even sent. */
function app(): express.Express {
  const a = express();
  a.post('/v1.41/exec/:id/start', (q, r) => {
    const s = openRawStream(q, r);
    s.input?.resume();
    s.write(frame('stdout', Buffer.from(OUTPUT)));
    s.end();
  });
  return a;
}

/** What docker-py's exec_start returned, `n` times in a row. */
function dockerPy(baseUrl: string, n: number, certDir?: string): Promise<string[]> {
  const env = { ...process.env };
  // requests lets these override the CA that docker-py gives it.
  delete env.REQUESTS_CA_BUNDLE;
  delete env.CURL_CA_BUNDLE;
  return new Promise((resolve, reject) => {
    execFile(
      '/usr/bin/python3',
      [SCRIPT, baseUrl, String(n), ...(certDir ? [certDir] : [])],
      { env, timeout: 100000, maxBuffer: 4 << 20 },
      (err, stdout, stderr) => (err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(JSON.parse(stdout))),
    );
  });
}

describe('hijacked streams: the output waits until the client has read the 101', () => {
  let dir: string;
  let certs: TlsFiles;
  const servers: ApiServer[] = [];
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pv-hijack-read-'));
    certs = makeTlsFiles(dir);
  });
  afterAll(async () => {
    for (const s of servers) {
      s.closeAllConnections();
      await new Promise((r) => s.close(r));
    }
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('the helper is built', () => {
    expect(hijackWaitBinary()).toBeDefined();
  });

  test('docker-py over the unix socket gets every output', async () => {
    const sock = path.join(dir, 'api.sock');
    servers.push(
      await serveOn(app(), `unix://${sock}`, planListeners({ ...defaultOptions(), hosts: [`unix://${sock}`] })),
    );
    const got = await dockerPy(`unix://${sock}`, 200);
    expect(got.filter((o) => o !== OUTPUT)).toEqual([]);
    expect(got).toHaveLength(200);
  });

  test('docker-py over TLS gets every output (the 101 is a TLS record of its own)', async () => {
    const o = {
      ...defaultOptions(),
      hosts: ['tcp://127.0.0.1:0'],
      tls: true,
      tlsVerify: true,
      tlsCaCert: certs.ca,
      tlsCert: certs.serverCert,
      tlsKey: certs.serverKey,
    };
    const s = await serveOn(app(), 'tcp://127.0.0.1:0', planListeners(o));
    servers.push(s);
    const got = await dockerPy(`https://127.0.0.1:${(s.address() as AddressInfo).port}`, 100, certs.clientDir);
    expect(got.filter((x) => x !== OUTPUT)).toEqual([]);
    expect(got).toHaveLength(100);
  });

  test('a client that does not read the 101 still gets the whole stream once it reads', async () => {
    const sock = path.join(dir, 'slow.sock');
    servers.push(
      await serveOn(app(), `unix://${sock}`, planListeners({ ...defaultOptions(), hosts: [`unix://${sock}`] })),
    );
    const got = await new Promise<Buffer>((resolve, reject) => {
      const c = net.connect(sock, () => {
        c.write('POST /v1.41/exec/x/start HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n');
        c.pause();
        // Past the helper's bound: the server gave up waiting and sent the output.
        setTimeout(() => c.resume(), 1500);
      });
      const parts: Buffer[] = [];
      c.on('data', (d: Buffer) => parts.push(d));
      c.on('end', () => resolve(Buffer.concat(parts)));
      c.on('error', reject);
    });
    const text = got.toString('latin1');
    expect(text).toMatch(/^HTTP\/1.1 101 UPGRADED\r\n/);
    expect(got.subarray(text.indexOf('\r\n\r\n') + 4)).toEqual(frame('stdout', Buffer.from(OUTPUT)));
  });
});
