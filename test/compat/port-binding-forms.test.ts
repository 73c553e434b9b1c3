/**
 * The forms of HostConfig.PortBindings that dockerd 20.10 accepts and refuses, through the
 * clients that send them, against the real daemon (real QEMU VMs):
 *  - testcontainers-node (the client that found the bug: it sends `"HostPort": "0"`, which
 *    podvisor refused with `400 invalid hostPort: 0`) starts a container, waits for its port
 *    and reaches it through the mapped port;
 *  - dockerode: HostPort "0", "", "0-0" and a missing one pick a free port; a range takes a port
 *    of it; HostIp "127.0.0.1" and "::1" bind that address; inspect keeps the bindings as given;
 *    the forms dockerd refuses get its 400 and create nothing;
 *  - the stock docker CLI: `-p 0:80` (HostPort "0") publishes on a free port.
 * Each answer expected here was seen from dockerd 20.10.24 given the same body.
 */
import { spawnSync } from 'node:child_process';
import Dockerode from 'dockerode';
import { GenericContainer, type StartedTestContainer } from 'testcontainers';
import { startDaemon, stopDaemonLeavingNothing, type TestDaemon } from '../helpers/daemon';
import { fixtureRegistry } from '../fixtures/registry';
import { dockerOk, freePort } from '../helpers/docker-cli';

jest.setTimeout(300000);

const REG = fixtureRegistry();
const BUSYBOX = `${REG}/busybox:latest`;
/** busybox's httpd serving `text` on port 80. */
const serve = (text: string): string[] => [
  'sh',
  '-c',
  `mkdir -p /www && echo ${text} > /www/index.html && exec httpd -f -p 80 -h /www`,
];

let d: TestDaemon;
let api: Dockerode;

/** `curl` the page at `url` until it answers (the server may still be starting). */
async function page(url: string, ms = 60000): Promise<string> {
  const end = Date.now() + ms;
  let last = '';
  while (Date.now() < end) {
    const r = spawnSync('curl', ['-sg', '-m', '3', url], { encoding: 'utf8' });
    last = r.stdout.trim();
    if (r.status === 0 && last) return last;
    await new Promise((res) => setTimeout(res, 300));
  }
  return last;
}

beforeAll(async () => {
  d = await startDaemon({ vmPoolSize: 1 });
  api = new Dockerode({ socketPath: d.socketPath });
  dockerOk(d, ['pull', '-q', BUSYBOX]);
});

afterAll(async () => {
  if (d) await stopDaemonLeavingNothing(d);
});

describe('testcontainers-node', () => {
  let started: StartedTestContainer | undefined;
  const env = { ...process.env };

  beforeAll(() => {
    process.env.DOCKER_HOST = d.dockerHost;
    process.env.DOCKER_CONFIG = d.env.DOCKER_CONFIG;
    process.env.TESTCONTAINERS_RYUK_DISABLED = 'true';
  });

  afterAll(async () => {
    await started?.stop().catch(() => undefined);
    for (const k of ['DOCKER_HOST', 'DOCKER_CONFIG', 'TESTCONTAINERS_RYUK_DISABLED']) {
      if (env[k] === undefined) delete process.env[k];
      else process.env[k] = env[k];
    }
  });

  test('GenericContainer.withExposedPorts(80).start(): waits for the port, which answers on the mapped host port', async () => {
    started = await new GenericContainer(BUSYBOX)
      .withExposedPorts(80)
      .withCommand(serve('from-testcontainers'))
      .start();
    const port = started.getMappedPort(80);
    expect(port).toBeGreaterThan(0);
    const inspect = await api.getContainer(started.getId()).inspect();
    expect(inspect.HostConfig.PortBindings).toEqual({ '80/tcp': [{ HostIp: '', HostPort: '0' }] });
    // No HostIp: every IPv4 and every IPv6 address on the one port, as dockerd 20.10 binds it.
    expect(inspect.NetworkSettings.Ports['80/tcp']).toEqual([
      { HostIp: '0.0.0.0', HostPort: String(port) },
      { HostIp: '::', HostPort: String(port) },
    ]);
    expect(await page(`http://${started.getHost()}:${port}/`)).toBe('from-testcontainers');
    await started.stop();
    started = undefined;
  });
});

describe('dockerode', () => {
  test('HostPort "0", "", "0-0", none and a range; HostIp 127.0.0.1 and ::1: each binding serves the page', async () => {
    const [lo, v6] = [await freePort(), await freePort()];
    const bindings = [
      { HostPort: '0' },
      { HostIp: '', HostPort: '' },
      { HostIp: '127.0.0.1', HostPort: '0-0' },
      {},
      { HostIp: '127.0.0.1', HostPort: `${lo}-${lo}` },
      { HostIp: '::1', HostPort: String(v6) },
    ];
    const c = await api.createContainer({
      Image: BUSYBOX,
      Cmd: serve('from-dockerode'),
      ExposedPorts: { '80/tcp': {} },
      HostConfig: { PortBindings: { '80/tcp': bindings } },
    });
    try {
      await c.start();
      const inspect = await c.inspect();
      // Kept as sent, with dockerd's defaults filled in ("" for a field left out).
      expect(inspect.HostConfig.PortBindings).toEqual({
        '80/tcp': bindings.map((b) => ({ HostIp: '', HostPort: '', ...b })),
      });
      const got = inspect.NetworkSettings.Ports['80/tcp'];
      // Each binding without HostIp is on "0.0.0.0" and "::" with one port.
      expect(got.map((b) => b.HostIp)).toEqual([
        '0.0.0.0',
        '::',
        '0.0.0.0',
        '::',
        '127.0.0.1',
        '0.0.0.0',
        '::',
        '127.0.0.1',
        '::1',
      ]);
      for (const i of [0, 2, 5]) expect(got[i + 1].HostPort).toBe(got[i].HostPort);
      expect(got[7].HostPort).toBe(String(lo));
      expect(got[8].HostPort).toBe(String(v6));
      expect(new Set(got.map((b) => b.HostPort)).size).toBe(6);
      for (const b of got) {
        const host = b.HostIp.includes(':') ? '[::1]' : '127.0.0.1';
        expect([b, await page(`http://${host}:${b.HostPort}/`)]).toEqual([b, 'from-dockerode']);
      }
    } finally {
      await c.remove({ force: true });
    }
  });

  test('the forms dockerd refuses: its 400, and nothing is created', async () => {
    const before = (await api.listContainers({ all: true })).length;
    const cases: Array<[Record<string, string>, string]> = [
      [{ HostPort: '65536' }, 'invalid port specification: "65536"'],
      [{ HostPort: '8090-8080' }, 'invalid port specification: "8090-8080"'],
      [{ HostPort: 'abc' }, 'invalid port specification: "abc"'],
      [{ HostPort: '-1' }, 'invalid port specification: "-1"'],
    ];
    for (const [b, message] of cases) {
      const err = await api.createContainer({ Image: BUSYBOX, HostConfig: { PortBindings: { '80/tcp': [b] } } }).then(
        () => undefined,
        (e: { statusCode?: number; json?: { message?: string } }) => e,
      );
      expect([b, err?.statusCode, err?.json?.message]).toEqual([b, 400, message]);
    }
    expect((await api.listContainers({ all: true })).length).toBe(before);
  });
});

test('docker run -p 0:80 (the CLI sends HostPort "0"): a free port, shown by docker port, serves the page', async () => {
  const id = dockerOk(d, ['run', '-d', '-p', '0:80', BUSYBOX, ...serve('from-cli')]);
  try {
    const hostPort = dockerOk(d, ['port', id, '80/tcp']).split('\n')[0];
    expect(hostPort).toMatch(/^0\.0\.0\.0:\d+$/);
    expect(hostPort).not.toBe('0.0.0.0:0');
    expect(await page(`http://127.0.0.1:${hostPort.split(':')[1]}/`)).toBe('from-cli');
  } finally {
    dockerOk(d, ['rm', '-f', id]);
  }
});
