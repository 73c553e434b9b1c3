/**
 * The network probes run from the host (src/pod/health/net-probe.ts) against real local servers: an
 * HTTP GET succeeds on 200-399 and fails on others, sends the kubelet's headers and the probe's
 * own, fails past its timeout and on a refused connection; HTTPS does not verify the
 * certificate; a TCP probe succeeds when it connects.
 */
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { httpProbe, PROBE_USER_AGENT, tcpProbe } from '../../../src/pod/health/net-probe';
import { makeTlsFiles } from '../../helpers/tls-certs';

const servers: Array<http.Server | net.Server> = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await new Promise((r) => s.close(r));
});

async function listen<T extends http.Server | net.Server>(s: T): Promise<number> {
  servers.push(s);
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  return (s.address() as net.AddressInfo).port;
}

/** A port nothing listens on (bound, then closed). */
async function closedPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

const get = (port: number, extra: Partial<Parameters<typeof httpProbe>[0]> = {}) =>
  httpProbe({ host: '127.0.0.1', port, path: '/', scheme: 'http', headers: [], timeoutMs: 2000, ...extra });

test('HTTP: 200-399 is a success, others a failure; the path and the headers are sent', async () => {
  const seen: http.IncomingHttpHeaders[] = [];
  let status = 200;
  const port = await listen(
    http.createServer((req, res) => {
      seen.push({ ...req.headers, path: req.url });
      res.writeHead(status, status === 302 ? { Location: 'http://elsewhere.invalid/' } : {});
      res.end('x'.repeat(100000));
    }),
  );
  expect(await get(port, { path: '/healthz?x=1' })).toEqual({ ok: true, message: 'HTTP 200' });
  expect(seen[0]).toMatchObject({ path: '/healthz?x=1', 'user-agent': PROBE_USER_AGENT, accept: '*/*' });
  status = 302;
  expect((await get(port)).ok).toBe(true);
  status = 399;
  expect((await get(port)).ok).toBe(true);
  status = 404;
  expect(await get(port)).toEqual({ ok: false, message: 'HTTP probe failed with statuscode: 404' });
  status = 500;
  expect((await get(port)).ok).toBe(false);
  // The probe's own headers replace the kubelet's by name; others are added.
  status = 200;
  await get(port, {
    headers: [
      { name: 'user-agent', value: 'mine' },
      { name: 'X-Probe', value: 'a' },
    ],
  });
  expect(seen[seen.length - 1]).toMatchObject({ 'user-agent': 'mine', 'x-probe': 'a' });
});

test('HTTP: no answer within the timeout, or a refused connection, is a failure', async () => {
  const port = await listen(http.createServer(() => undefined));
  const t0 = Date.now();
  const slow = await get(port, { timeoutMs: 300 });
  expect(slow.ok).toBe(false);
  expect(slow.message).toMatch(/context deadline exceeded/);
  expect(Date.now() - t0).toBeLessThan(5000);
  const refused = await get(await closedPort());
  expect(refused.ok).toBe(false);
  expect(refused.message).toMatch(/ECONNREFUSED/);
});

test('HTTPS: the certificate is not verified (as the kubelet does not)', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'probe-tls-'));
  try {
    const t = makeTlsFiles(dir);
    const port = await listen(
      https.createServer({ cert: fs.readFileSync(t.serverCert), key: fs.readFileSync(t.serverKey) }, (_req, res) =>
        res.end('ok'),
      ),
    );
    expect(await get(port, { scheme: 'https' })).toEqual({ ok: true, message: 'HTTP 200' });
    // Plain HTTP to a TLS port fails.
    expect((await get(port)).ok).toBe(false);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('TCP: connecting is a success; a refused connection a failure', async () => {
  const port = await listen(net.createServer((s) => s.end()));
  expect(await tcpProbe('127.0.0.1', port, 1000)).toEqual({ ok: true, message: `connected to 127.0.0.1:${port}` });
  const closed = await closedPort();
  const r = await tcpProbe('127.0.0.1', closed, 1000);
  expect(r.ok).toBe(false);
  expect(r.message).toMatch(new RegExp(`^dial tcp 127.0.0.1:${closed}: .*ECONNREFUSED`));
});
