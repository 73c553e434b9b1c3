/**
 * The daemon's SIGTERM, through dockerode (whose own test suite found the hang: issue 27): a
 * daemon with --registry-mirror was sent SIGTERM after that suite, logged "shutting down",
 * and never exited. Two things held it. dockerode's BuildKit tests open a `/session` (an
 * HTTP upgrade, answered 404): that connection was never read again, so the client's leaving
 * was never seen, and server.close() waited for it forever; meanwhile the VM pool, closed only
 * after the listeners, went on refilling. And a pull from a registry that answered and then
 * stalled kept its connection (and the process) alive with no timeout.
 *
 * Here both are reproduced with a registry of the test's own that stalls on purpose. The
 * daemon must exit on its own well within the bound (60 s: a hang detector, not a speed
 * check) and leave no QEMU, virtiofsd or mount behind.
 */
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import type { AddressInfo, Socket } from 'node:net';
import Docker from 'dockerode';
import { startDaemon, stopDaemonLeavingNothing, type TestDaemon } from '../helpers/daemon';

jest.setTimeout(240_000);

/** Longest wait for the daemon to exit after SIGTERM: a hang detector, far above its bound. */
const EXIT_WAIT_MS = 60_000;

/** A registry that answers /v2/ and then, for a manifest, sends headers and a few bytes and stalls. */
async function stallingRegistry(): Promise<{ url: string; requests: string[]; close(): Promise<void> }> {
  const requests: string[] = [];
  const sockets = new Set<Socket>();
  const server = http.createServer((req, res) => {
    requests.push(`${req.method} ${req.url}`);
    if (req.url === '/v2/') return void res.writeHead(200, { 'Content-Type': 'application/json' }).end('{}');
    res.writeHead(200, {
      'Content-Type': 'application/vnd.docker.distribution.manifest.v2+json',
      'Content-Length': '4096',
    });
    res.write('{"schemaVersion": 2,');
    // ...and nothing more.
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(r));
    },
  };
}

async function until(what: string, cond: () => boolean, ms: number, d: TestDaemon): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline)
      throw new Error(`${what} did not happen within ${ms} ms; daemon log:\n${d.logs().slice(-3000)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

let registry: Awaited<ReturnType<typeof stallingRegistry>>;
let context: string;

beforeAll(async () => {
  registry = await stallingRegistry();
  context = fs.mkdtempSync(path.join(os.tmpdir(), 'podvisor-shutdown-ctx-'));
  fs.writeFileSync(path.join(context, 'Dockerfile'), 'FROM busybox\nRUN true\n');
});
afterAll(async () => {
  await registry?.close();
  if (context) fs.rmSync(context, { recursive: true, force: true });
});

test('SIGTERM after a BuildKit session and during a pull stalled on the mirror: the daemon exits on its own and leaves nothing', async () => {
  const d = await startDaemon({ vmPoolSize: 1, args: ['--registry-mirror', registry.url] });
  let failure: unknown;
  try {
    const docker = new Docker({ socketPath: d.socketPath });
    // The pool has its idle VM: the shutdown must destroy it (and must not boot another).
    await until('the VM pool filling', () => /VM pool: 1 idle VM\(s\) ready/.test(d.logs()), 120_000, d);

    // dockerode's BuildKit build (version 2) opens a /session first; podvisor answers 404.
    const build = await docker
      .buildImage({ context, src: ['Dockerfile'] }, { version: '2', t: 'shutdown-buildkit' })
      .then(
        () => null,
        (e: Error) => e,
      );
    expect(build?.message).toMatch(/404/);

    // A pull through the mirror, whose manifest never finishes arriving.
    let pullEnded = false;
    docker.pull('ubuntu:latest', (err: Error | null, stream?: NodeJS.ReadableStream) => {
      if (err || !stream) return void (pullEnded = true);
      stream
        .on('error', () => (pullEnded = true))
        .on('end', () => (pullEnded = true))
        .on('close', () => (pullEnded = true));
      stream.resume();
    });
    await until(
      'the pull reaching the mirror',
      () => registry.requests.some((r) => r.startsWith('GET /v2/library/ubuntu/manifests/')),
      30_000,
      d,
    );

    const pid = d.pid();
    expect(pid).toBeDefined();
    process.kill(pid!, 'SIGTERM');
    await until('the daemon exiting after SIGTERM', () => d.pid() === undefined, EXIT_WAIT_MS, d);
    // It ended by itself (not the helper's SIGKILL), with nothing still pending.
    expect(d.logs()).toMatch(/SIGTERM received, shutting down[\s\S]*shut down in \d+ ms/);
    expect(d.logs()).not.toMatch(/still pending/);
    await until('the pull seeing the daemon go', () => pullEnded, 10_000, d);
  } catch (err) {
    failure = err;
  }
  // No QEMU, virtiofsd or mount of its roots is left (and the roots go); a hang is reported
  // first, though, as what it left is its consequence.
  await stopDaemonLeavingNothing(d).catch((err: unknown) => (failure ??= err));
  if (failure) throw failure;
});

test('SIGTERM while the VM pool boots its first VM: the boot is cut short, the daemon exits on its own and leaves nothing', async () => {
  const d = await startDaemon({ vmPoolSize: 2 });
  let failure: unknown;
  try {
    // The pool starts once the (empty) re-adoption has ended; its first boot builds a
    // template (or boots) for a few seconds under TCG.
    await until('the pool starting to boot', () => /VM pool: booting 2 idle VM/.test(d.logs()), 30_000, d);
    process.kill(d.pid()!, 'SIGTERM');
    await until('the daemon exiting after SIGTERM', () => d.pid() === undefined, EXIT_WAIT_MS, d);
    expect(d.logs()).toMatch(/SIGTERM received, shutting down[\s\S]*shut down in \d+ ms/);
    expect(d.logs()).not.toMatch(/still pending|VM pool: 2 idle VM\(s\) ready/);
  } catch (err) {
    failure = err;
  }
  await stopDaemonLeavingNothing(d).catch((err: unknown) => (failure ??= err));
  if (failure) throw failure;
});
