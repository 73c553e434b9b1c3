/**
 * The CRI streaming server through its own test clients for SPDY/3.1 and the k8s websocket
 * protocols, over an in-memory backend: what a kubelet or crictl would see.
 */
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import WebSocket from 'ws';
import { makeTlsFiles } from '../../../../helpers/tls-certs';
import { StreamingServer } from '../../../../../src/api/cri/streaming';
import { HttpRefusal, spdyDial, spdyRemoteCommand, wsDial, encodeWs } from './clients';
import { FakeBackend } from './fake-backend';

const SUCCESS = { metadata: {}, status: 'Success' };

let backend: FakeBackend;
let server: StreamingServer;
let echo: net.Server;

beforeEach(async () => {
  backend = new FakeBackend();
  server = new StreamingServer(backend, { tokenTtlMs: 2000, streamCreationTimeoutMs: 2000 });
  await server.start();
  // A TCP server inside "the pod": answers each line with "echo: LINE".
  echo = net.createServer((s) => {
    let buf = '';
    s.on('data', (c) => {
      buf += c.toString();
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        s.write(`echo: ${buf.slice(0, i)}\n`);
        buf = buf.slice(i + 1);
      }
    });
    s.on('end', () => s.end('bye\n'));
  });
  await new Promise<void>((r) => echo.listen(0, '127.0.0.1', r));
  backend.ports.set(8080, (echo.address() as net.AddressInfo).port);
});

afterEach(async () => {
  await server.stop();
  await new Promise((r) => echo.close(r));
});

const exec = (cmd: string[], o: { stdin?: boolean; stdout?: boolean; stderr?: boolean; tty?: boolean } = {}) =>
  server.getExecUrl({
    containerId: 'c1',
    cmd,
    stdin: o.stdin ?? false,
    stdout: o.stdout ?? true,
    stderr: o.stderr ?? false,
    tty: o.tty ?? false,
  });

describe('URLs', () => {
  it('are one-time paths on the bound loopback port', () => {
    const url = exec(['echo', 'hi']);
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:[0-9]+\/exec\/[A-Za-z0-9_-]{16,}$/);
    expect(url).toContain(server.url);
    expect(exec(['echo', 'hi'])).not.toBe(url);
    expect(server.getAttachUrl({ containerId: 'c', stdin: true, stdout: true, stderr: false, tty: true })).toMatch(
      /\/attach\//,
    );
    expect(server.getPortForwardUrl({ podSandboxId: 's', port: [80] })).toMatch(/\/portforward\//);
  });

  it('are refused for requests the kubelet refuses', () => {
    expect(() => exec(['sh'], { tty: true, stderr: true })).toThrow('tty and stderr cannot both be true');
    expect(() => exec(['sh'], { stdout: false })).toThrow('one of stdin, stdout, or stderr must be set');
    expect(() =>
      server.getExecUrl({ containerId: '', cmd: ['sh'], stdin: true, stdout: false, stderr: false, tty: false }),
    ).toThrow('missing required container_id');
    expect(() => exec([])).toThrow('missing required cmd');
    expect(() => server.getPortForwardUrl({ podSandboxId: '', port: [] })).toThrow('missing required pod_sandbox_id');
    expect(() => server.getPortForwardUrl({ podSandboxId: 's', port: [70000] })).toThrow('invalid port 70000');
  });

  it('serve plain HTTP only on loopback', () => {
    expect(() => new StreamingServer(backend, { address: '0.0.0.0:0' })).toThrow(/needs a TLS certificate/);
    expect(() => new StreamingServer(backend, { address: '[::]:10010' })).toThrow(/needs a TLS certificate/);
    expect(() => new StreamingServer(backend, { address: 'nonsense' })).toThrow(/want HOST:PORT/);
  });

  it('are https URLs with a TLS pair, which any address may serve', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pv-cri-tls-'));
    try {
      const t = makeTlsFiles(dir);
      const tls = { cert: fs.readFileSync(t.serverCert), key: fs.readFileSync(t.serverKey) };
      expect(() => new StreamingServer(backend, { address: '0.0.0.0:0', tls })).not.toThrow();
      const secure = new StreamingServer(backend, { tls });
      await secure.start();
      try {
        const url = secure.getExecUrl({
          containerId: 'c',
          cmd: ['echo', 'sealed'],
          stdin: false,
          stdout: true,
          stderr: false,
          tty: false,
        });
        expect(url).toMatch(/^https:\/\/127\.0\.0\.1:[0-9]+\/exec\//);
        const ws = new WebSocket(url.replace(/^https/, 'wss'), ['v4.channel.k8s.io'], { ca: fs.readFileSync(t.ca) });
        const out: Buffer[] = [];
        ws.on('message', (m: Buffer) => out.push(m));
        await new Promise((r) => ws.on('close', r));
        expect(Buffer.concat(out.filter((m) => m[0] === 1).map((m) => m.subarray(1))).toString()).toBe('sealed\n');
      } finally {
        await secure.stop();
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('SPDY remotecommand', () => {
  it('execs with stdin echoed to stdout and reports success as a v4 Status', async () => {
    const r = await spdyRemoteCommand(exec(['cat'], { stdin: true }), { stdin: 'hello\nworld\n', stdout: true });
    expect(r.protocol).toBe('v4.channel.k8s.io');
    expect(r.stdout).toBe('hello\nworld\n');
    expect(JSON.parse(r.error)).toEqual(SUCCESS);
    expect(backend.calls).toEqual([['exec', 'c1', ['cat']]]);
  });

  it('carries stdout and stderr apart', async () => {
    const r = await spdyRemoteCommand(exec(['warn', 'oops'], { stderr: true }), { stdout: true, stderr: true });
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe('oops\n');
  });

  it('moves more data than one SPDY window (64 KiB) both ways', async () => {
    const big = 'x'.repeat(300 * 1024) + '\n';
    const r = await spdyRemoteCommand(exec(['cat'], { stdin: true }), { stdin: big, stdout: true });
    expect(r.stdout.length).toBe(big.length);
    expect(r.stdout).toBe(big);
  });

  it('reports a non-zero exit code as NonZeroExitCode with an ExitCode cause', async () => {
    const r = await spdyRemoteCommand(exec(['exit', '3']), { stdout: true });
    expect(JSON.parse(r.error)).toEqual({
      metadata: {},
      status: 'Failure',
      message: 'command terminated with non-zero exit code: error executing command [exit 3], exit code 3',
      reason: 'NonZeroExitCode',
      details: { causes: [{ reason: 'ExitCode', message: '3' }] },
    });
  });

  it('reports a runtime failure as an InternalError Status', async () => {
    const r = await spdyRemoteCommand(exec(['boom']), { stdout: true });
    const status = JSON.parse(r.error);
    expect(status).toMatchObject({ status: 'Failure', reason: 'InternalError', code: 500 });
    expect(status.message).toBe(
      'Internal error occurred: error executing command in container: executable file not found: boom',
    );
  });

  it('passes a TTY and its resize events to the backend', async () => {
    const url = exec(['resizes', '2'], { stdin: true, tty: true });
    const r = await spdyRemoteCommand(url, {
      stdin: '',
      stdout: true,
      tty: true,
      resize: [
        { width: 80, height: 24 },
        { width: 132, height: 43 },
      ],
    });
    expect(r.stdout).toBe('80x24\n132x43\n');
    expect(JSON.parse(r.error)).toEqual(SUCCESS);
  });

  it('speaks the older versions: v2 writes only a failure message, nothing on success', async () => {
    const ok = await spdyRemoteCommand(exec(['echo', 'v2']), { stdout: true }, ['v2.channel.k8s.io']);
    expect(ok.protocol).toBe('v2.channel.k8s.io');
    expect(ok.stdout).toBe('v2\n');
    expect(ok.error).toBe('');
    const bad = await spdyRemoteCommand(exec(['exit', '7']), { stdout: true }, [
      'v3.channel.k8s.io',
      'v2.channel.k8s.io',
    ]);
    expect(bad.protocol).toBe('v3.channel.k8s.io');
    expect(bad.error).toBe('command terminated with non-zero exit code: error executing command [exit 7], exit code 7');
  });

  it('picks the first protocol of the client that it knows', async () => {
    const r = await spdyRemoteCommand(exec(['echo', 'x']), { stdout: true }, [
      'v9.channel.k8s.io',
      'v3.channel.k8s.io',
      'v4.channel.k8s.io',
    ]);
    expect(r.protocol).toBe('v3.channel.k8s.io');
  });

  it('attaches to a container', async () => {
    const url = server.getAttachUrl({ containerId: 'up', stdin: true, stdout: true, stderr: false, tty: false });
    const r = await spdyRemoteCommand(url, { stdin: 'shout\n', stdout: true });
    expect(r.stdout).toBe('SHOUT\n');
    expect(JSON.parse(r.error)).toEqual(SUCCESS);
    const gone = server.getAttachUrl({ containerId: 'nope', stdin: false, stdout: true, stderr: false, tty: false });
    const e = await spdyRemoteCommand(gone, { stdout: true });
    expect(JSON.parse(e.error).message).toBe(
      'Internal error occurred: error attaching to container: container nope not found',
    );
  });

  it('closes a connection idle for the idle timeout', async () => {
    const idle = new StreamingServer(backend, { streamIdleTimeoutMs: 300 });
    await idle.start();
    try {
      const url = idle.getExecUrl({
        containerId: 'c',
        cmd: ['cat'],
        stdin: true,
        stdout: true,
        stderr: false,
        tty: false,
      });
      const { conn } = await spdyDial(url, ['v4.channel.k8s.io']);
      const closed = new Promise<void>((r) => conn.once('close', () => r()));
      await conn.createStream({ streamtype: ['error'] });
      await closed;
      expect(conn.isClosed).toBe(true);
    } finally {
      await idle.stop();
    }
  });

  it('answers a PING', async () => {
    const { conn } = await spdyDial(exec(['echo', 'x']), ['v4.channel.k8s.io']);
    // The echo resolves the ping (no echo: the test times out); the session goes on.
    await expect(conn.ping()).resolves.toBeUndefined();
    expect(conn.isClosed).toBe(false);
    conn.destroy();
  });
});

describe('tokens and negotiation', () => {
  it('are single use: the second connection gets 404', async () => {
    const url = exec(['echo', 'once']);
    const r = await spdyRemoteCommand(url, { stdout: true });
    expect(r.stdout).toBe('once\n');
    await expect(spdyDial(url, ['v4.channel.k8s.io'])).rejects.toMatchObject({ status: 404 });
    await expect(wsDial(url, ['v4.channel.k8s.io'])).rejects.toMatchObject({ status: 404 });
    expect(backend.calls).toHaveLength(1);
  });

  it('expire', async () => {
    const short = new StreamingServer(backend, { tokenTtlMs: 50 });
    await short.start();
    try {
      const url = short.getExecUrl({
        containerId: 'c',
        cmd: ['echo'],
        stdin: false,
        stdout: true,
        stderr: false,
        tty: false,
      });
      await new Promise((r) => setTimeout(r, 120));
      await expect(spdyDial(url, ['v4.channel.k8s.io'])).rejects.toMatchObject({ status: 404 });
      expect(backend.calls).toHaveLength(0);
    } finally {
      await short.stop();
    }
  });

  it('are bound to their kind and unknown tokens get 404', async () => {
    const url = exec(['echo', 'x']);
    await expect(spdyDial(url.replace('/exec/', '/attach/'), ['v4.channel.k8s.io'])).rejects.toMatchObject({
      status: 404,
    });
    await expect(spdyDial(`${server.url}/exec/AAAAAAAAAAAAAAAAAAAAAA`, ['v4.channel.k8s.io'])).rejects.toMatchObject({
      status: 404,
    });
    await expect(spdyDial(`${server.url}/nothing`, ['v4.channel.k8s.io'])).rejects.toMatchObject({ status: 404 });
  });

  it('refuses SPDY without a common protocol with 403 and the accepted list', async () => {
    const err = (await spdyDial(exec(['echo', 'x']), ['v9.channel.k8s.io']).catch((e) => e)) as HttpRefusal;
    expect(err.status).toBe(403);
    expect(err.body).toContain('unable to negotiate protocol: client supports [v9.channel.k8s.io]');
    expect(err.headers['x-accepted-stream-protocol-versions']).toBe(
      'v4.channel.k8s.io, v3.channel.k8s.io, v2.channel.k8s.io, channel.k8s.io',
    );
  });

  it('refuses a request without protocol or upgrade headers with 400', async () => {
    const none = (await spdyDial(exec(['echo', 'x']), []).catch((e) => e)) as HttpRefusal;
    expect(none.status).toBe(400);
    expect(none.body).toContain('X-Stream-Protocol-Version is required');
    const plain = (await spdyDial(exec(['echo', 'x']), ['v4.channel.k8s.io'], { upgradeHeaders: false }).catch(
      (e) => e,
    )) as HttpRefusal;
    expect(plain.status).toBe(400);
    expect(plain.body).toContain('missing upgrade headers');
    expect(backend.calls).toHaveLength(0);
  });

  it('refuses a websocket offering only unknown subprotocols with 403', async () => {
    await expect(wsDial(exec(['echo', 'x']), ['v9.channel.k8s.io'])).rejects.toMatchObject({ status: 403 });
    expect(backend.calls).toHaveLength(0);
  });

  it('refuses methods other than GET and POST with 405', async () => {
    await expect(spdyDial(exec(['echo', 'x']), ['v4.channel.k8s.io'], { method: 'PUT' })).rejects.toMatchObject({
      status: 405,
    });
  });
});

describe('websocket remotecommand', () => {
  for (const protocol of ['v4.channel.k8s.io', 'v4.base64.channel.k8s.io', 'v5.channel.k8s.io']) {
    it(`execs over ${protocol}: readiness message, stdout, JSON status on channel 3`, async () => {
      const ws = await wsDial(exec(['echo', 'hi', 'there']), [protocol]);
      expect(ws.protocol).toBe(protocol);
      const t = await ws.transcript;
      expect(t.messages[0][0]).toBe(1);
      expect(t.messages[0][1].length).toBe(0);
      expect(t.text(1)).toBe('hi there\n');
      expect(JSON.parse(t.text(3))).toEqual(SUCCESS);
      expect(t.closeCode).toBe(1000);
    });
  }

  it('feeds stdin and reports the exit code (v4 base64)', async () => {
    const ws = await wsDial(exec(['exit', '42'], { stdin: true }), ['v4.base64.channel.k8s.io']);
    const t = await ws.transcript;
    expect(JSON.parse(t.text(3))).toMatchObject({
      reason: 'NonZeroExitCode',
      details: { causes: [{ reason: 'ExitCode', message: '42' }] },
    });
  });

  it('ends stdin on the v5 close signal', async () => {
    const ws = await wsDial(exec(['cat'], { stdin: true }), ['v5.channel.k8s.io']);
    const done = ws.transcript;
    ws.send(encodeWs(ws.protocol, 0, 'abc'));
    ws.send(encodeWs(ws.protocol, 0, 'def\n'));
    ws.send(Buffer.from([255, 0]));
    const t = await done;
    expect(t.text(1)).toBe('abcdef\n');
    expect(JSON.parse(t.text(3))).toEqual(SUCCESS);
  });

  it('passes resize messages on channel 4 to a TTY session', async () => {
    const ws = await wsDial(exec(['resizes', '2'], { stdin: true, tty: true }), ['v4.channel.k8s.io']);
    const done = ws.transcript;
    ws.send(encodeWs(ws.protocol, 4, '{"Width":100,"Height":40}'));
    ws.send(encodeWs(ws.protocol, 4, '{"Width":20,"Height":10}'));
    const t = await done;
    expect(t.text(1)).toBe('100x40\n20x10\n');
  });

  it('speaks channel.k8s.io: a failure message only, and binary channels when no subprotocol is named', async () => {
    const ws = await wsDial(exec(['exit', '2']), ['channel.k8s.io']);
    const t = await ws.transcript;
    expect(t.text(3)).toBe('command terminated with non-zero exit code: error executing command [exit 2], exit code 2');
    const plain = await wsDial(exec(['echo', 'x']), []);
    expect(plain.protocol).toBe('');
    const p = await plain.transcript;
    expect(p.text(1)).toBe('x\n');
    expect(p.text(3)).toBe('');
  });

  it('announces readiness on stderr, then the error channel, when there is no stdout', async () => {
    const ws = await wsDial(exec(['warn', 'w'], { stdout: false, stderr: true }), ['v4.channel.k8s.io']);
    const t = await ws.transcript;
    expect(t.messages[0]).toEqual([2, Buffer.alloc(0)]);
    expect(t.text(2)).toBe('w\n');
  });

  it('attaches', async () => {
    const url = server.getAttachUrl({ containerId: 'up', stdin: true, stdout: true, stderr: false, tty: false });
    const ws = await wsDial(url, ['v5.channel.k8s.io']);
    const done = ws.transcript;
    ws.send(encodeWs(ws.protocol, 0, 'quiet'));
    ws.send(Buffer.from([255, 0]));
    expect((await done).text(1)).toBe('QUIET');
  });
});

/** Reads from a duplex until `pattern` has been seen. */
function readUntil(s: NodeJS.ReadableStream, pattern: string): Promise<string> {
  return new Promise((resolve) => {
    let got = '';
    const on = (c: Buffer): void => {
      got += c.toString();
      if (got.includes(pattern)) {
        s.off('data', on);
        resolve(got);
      }
    };
    s.on('data', on);
  });
}

describe('port-forward', () => {
  it('forwards TCP connections over SPDY, several on one connection', async () => {
    const { conn, protocol } = await spdyDial(server.getPortForwardUrl({ podSandboxId: 'sb1', port: [8080] }), [
      'portforward.k8s.io',
    ]);
    expect(protocol).toBe('portforward.k8s.io');
    const results = await Promise.all(
      ['0', '1'].map(async (requestID) => {
        const error = await conn.createStream({ streamtype: ['error'], port: ['8080'], requestid: [requestID] });
        error.end();
        const errText = new Promise<string>((r) => {
          let s = '';
          error.on('data', (c: Buffer) => (s += c));
          error.on('end', () => r(s));
        });
        const data = await conn.createStream({ streamtype: ['data'], port: ['8080'], requestid: [requestID] });
        const all = readUntil(data, 'bye\n');
        data.write(`hello ${requestID}\n`);
        await readUntil(data, `echo: hello ${requestID}\n`);
        data.end(`again ${requestID}\n`);
        return { out: await all, err: await errText };
      }),
    );
    expect(results[0]).toEqual({ out: 'echo: hello 0\necho: again 0\nbye\n', err: '' });
    expect(results[1]).toEqual({ out: 'echo: hello 1\necho: again 1\nbye\n', err: '' });
    expect(backend.calls).toEqual([
      ['portForward', 'sb1', 8080],
      ['portForward', 'sb1', 8080],
    ]);
    conn.destroy();
  });

  it('reports a port nothing listens on on the error stream', async () => {
    const { conn } = await spdyDial(server.getPortForwardUrl({ podSandboxId: 'sb1', port: [] }), [
      'portforward.k8s.io',
    ]);
    const error = await conn.createStream({ streamtype: ['error'], port: ['9'], requestid: ['0'] });
    const errText = new Promise<string>((r) => {
      let s = '';
      error.on('data', (c: Buffer) => (s += c));
      error.on('end', () => r(s));
    });
    const data = await conn.createStream({ streamtype: ['data'], port: ['9'], requestid: ['0'] });
    data.resume();
    expect(await errText).toBe(
      'error forwarding port 9 to pod sb1, uid : dial tcp 127.0.0.1:1: connect: connection refused',
    );
    conn.destroy();
  });

  it('refuses streams without a valid port header', async () => {
    const { conn } = await spdyDial(server.getPortForwardUrl({ podSandboxId: 'sb1', port: [] }), [
      'portforward.k8s.io',
    ]);
    await expect(conn.createStream({ streamtype: ['data'], port: ['0'], requestid: ['0'] })).rejects.toThrow(/reset/);
    await expect(conn.createStream({ streamtype: ['data'], requestid: ['0'] })).rejects.toThrow(/reset/);
    await expect(conn.createStream({ streamtype: ['bogus'], port: ['80'] })).rejects.toThrow(/reset/);
    conn.destroy();
  });

  it('pairs the streams of an old client without requestID by stream id', async () => {
    const { conn } = await spdyDial(server.getPortForwardUrl({ podSandboxId: 'sb1', port: [] }), [
      'portforward.k8s.io',
    ]);
    const error = await conn.createStream({ streamtype: ['error'], port: ['8080'] });
    error.end();
    error.resume();
    const data = await conn.createStream({ streamtype: ['data'], port: ['8080'] });
    const all = readUntil(data, 'bye\n');
    data.end('old\n');
    expect(await all).toBe('echo: old\nbye\n');
    conn.destroy();
  });

  for (const protocol of ['v4.channel.k8s.io', 'v4.base64.channel.k8s.io']) {
    it(`forwards over a websocket (${protocol}): port prefix on both channels, then data`, async () => {
      let seen = '';
      const ws = await wsDial(
        server.getPortForwardUrl({ podSandboxId: 'sb2', port: [8080] }),
        [protocol],
        (w, ch, d) => {
          if (ch !== 0) return;
          if (d.length === 2 && seen === '') w.send(encodeWs(protocol, 0, 'over ws\n'));
          else seen += d.toString();
          if (seen.includes('echo: over ws\n')) w.close();
        },
      );
      const t = await ws.transcript;
      expect(t.messages.slice(0, 2).map(([c, d]) => [c, d.length, d.readUInt16LE(0)])).toEqual([
        [0, 2, 8080],
        [1, 2, 8080],
      ]);
      expect(seen).toBe('echo: over ws\n');
      expect(backend.calls).toEqual([['portForward', 'sb2', 8080]]);
    });
  }

  it('takes websocket ports from the query when the request has none', async () => {
    const url = server.getPortForwardUrl({ podSandboxId: 'sb3', port: [] });
    await expect(wsDial(url, ['v4.channel.k8s.io'])).rejects.toMatchObject({ status: 400 });
    const url2 = server.getPortForwardUrl({ podSandboxId: 'sb3', port: [] });
    const ws = await wsDial(`${url2}?port=8080`, ['v4.channel.k8s.io'], (w, ch, d) => {
      if (ch === 0 && d.length === 2) w.send(encodeWs(w.protocol, 0, 'q\n'));
      if (ch === 0 && d.toString().includes('echo: q')) w.close();
    });
    expect((await ws.transcript).text(0)).toContain('echo: q\n');
  });
});
