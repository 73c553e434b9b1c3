/**
 * CRI port-forward to a real pod's address: busybox httpd in a VM on the daemon's default
 * bridge (its IP reachable from the host, as a CNI bridge pod's is), reached through the
 * streaming server's SPDY and websocket port-forward with the pod-backed backend. One VM.
 */
import * as net from 'node:net';
import { StreamingServer } from '../../src/api/cri/streaming';
import { PodStreamingBackend } from '../../src/api/cri/streaming/pod-backend';
import type { PodService } from '../../src/pod/service';
import { startDaemon, stopDaemonLeavingNothing, type TestDaemon } from '../helpers/daemon';
import { dockerOk } from '../helpers/docker-cli';
import { fixtureRegistry } from '../fixtures/registry';
import { encodeWs, spdyDial, wsDial } from '../unit/api/cri/streaming/clients';

jest.setTimeout(240_000);

let d: TestDaemon;
let server: StreamingServer;
let podIp: string;

beforeAll(async () => {
  d = await startDaemon();
  const image = `${fixtureRegistry()}/busybox:latest`;
  dockerOk(d, ['pull', image]);
  dockerOk(d, [
    'run',
    '-d',
    '--name',
    'web',
    image,
    'sh',
    '-c',
    'mkdir /www && echo served-from-the-vm > /www/index.html && httpd -f -p 8080 -h /www',
  ]);
  podIp = dockerOk(d, ['inspect', '-f', '{{.NetworkSettings.IPAddress}}', 'web']).trim();
  await listening(podIp, 8080);
  // Port-forward reaches the runtime only through the locator's address: the pod layer is
  // another process here, and the backend never calls it for port-forward.
  const noPods = {} as PodService;
  server = new StreamingServer(
    new PodStreamingBackend(noPods, {
      locate: () => {
        throw new Error('not used');
      },
      sandboxAddress: async (id) => {
        if (id !== 'web-sandbox') throw new Error(`no sandbox ${id}`);
        return podIp;
      },
    }),
  );
  await server.start();
});

afterAll(async () => {
  await server?.stop();
  if (d) {
    dockerOk(d, ['rm', '-f', 'web']);
    await stopDaemonLeavingNothing(d);
  }
});

/** Resolves once something accepts TCP connections on host:port (the pod's httpd is up). */
async function listening(host: string, port: number): Promise<void> {
  for (let i = 0; i < 600; i++) {
    const up = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, host);
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (up) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`nothing listens on ${host}:${port}`);
}

/** An HTTP/1.0 GET over a duplex, resolving with everything the server sent. */
function httpGet(
  send: (s: string) => void,
  onData: (cb: (c: Buffer) => void) => void,
  onEnd: (cb: () => void) => void,
) {
  return new Promise<string>((resolve) => {
    let got = '';
    onData((c) => (got += c.toString()));
    onEnd(() => resolve(got));
    send('GET /index.html HTTP/1.0\r\nHost: web\r\n\r\n');
  });
}

it('forwards a TCP connection to the pod over SPDY', async () => {
  expect(podIp).toMatch(/^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+$/);
  const { conn } = await spdyDial(server.getPortForwardUrl({ podSandboxId: 'web-sandbox', port: [8080] }), [
    'portforward.k8s.io',
  ]);
  const error = await conn.createStream({ streamtype: ['error'], port: ['8080'], requestid: ['0'] });
  error.end();
  let errText = '';
  error.on('data', (c: Buffer) => (errText += c));
  const data = await conn.createStream({ streamtype: ['data'], port: ['8080'], requestid: ['0'] });
  const reply = await httpGet(
    (s) => data.write(s),
    (cb) => data.on('data', cb),
    (cb) => data.on('end', cb),
  );
  expect(reply).toMatch(/^HTTP\/1\.[01] 200 OK\r\n/);
  expect(reply).toContain('\r\n\r\nserved-from-the-vm\n');
  // A port nothing listens on in the pod: the connection error comes back on the error stream.
  const error2 = await conn.createStream({ streamtype: ['error'], port: ['8081'], requestid: ['1'] });
  error2.end();
  const err2 = new Promise<string>((resolve) => {
    let s = '';
    error2.on('data', (c: Buffer) => (s += c));
    error2.on('end', () => resolve(s));
  });
  (await conn.createStream({ streamtype: ['data'], port: ['8081'], requestid: ['1'] })).resume();
  expect(await err2).toBe(
    `error forwarding port 8081 to pod web-sandbox, uid : dial tcp ${podIp}:8081: connect: connection refused`,
  );
  expect(errText).toBe('');
  conn.destroy();
});

it('forwards a TCP connection to the pod over a websocket', async () => {
  let reply = '';
  const ws = await wsDial(
    server.getPortForwardUrl({ podSandboxId: 'web-sandbox', port: [8080] }),
    ['v4.channel.k8s.io'],
    (w, ch, data) => {
      if (ch !== 0) return;
      if (data.length === 2 && reply === '' && data.readUInt16LE(0) === 8080) {
        w.send(encodeWs(w.protocol, 0, 'GET /index.html HTTP/1.0\r\n\r\n'));
        reply = ' ';
        return;
      }
      reply += data.toString();
    },
  );
  const t = await ws.transcript;
  expect(t.closeCode).toBe(1000);
  expect(reply).toContain('200 OK');
  expect(reply).toContain('served-from-the-vm\n');
});
