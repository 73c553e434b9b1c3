/**
 * What a container without `-m` may use, through the stock docker CLI on real VMs, with the
 * daemon's default VM size (`--vm-memory` not given: src/daemon/default-vm-memory.ts):
 *  - a 1 GiB allocation (busybox `dd bs=1G`: a 1 GiB buffer, filled) succeeds without -m, and
 *    `docker stats` and `docker info` say what bounds it (the VM's memory; the host's);
 *  - with `-m 128m` the same allocation is OOM-killed: 137, State.OOMKilled, an `oom` event;
 *  - Python allocating (and touching) 1 GiB succeeds without -m, and is OOM-killed under -m 128m;
 *  - 300 MB written into `--tmpfs /t:size=1g` fits (the tmpfs is capped below half the VM);
 *  - a VM that grew (600 MB in a tmpfs, more than the old 256 MiB VMs held) is re-adopted by a
 *    restarted daemon: its container still runs, with its data;
 *  - a clone of a template hands back what its guest frees: after a container freed 1 GiB its
 *    QEMU's PSS falls back, while another clone of the same template keeps its own memory and
 *    the template's RAM file is unchanged (src/vm/qemu/memory/ram-shim.ts).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import { spawn } from 'node:child_process';
import { startDaemon, stopDaemonLeavingNothing, type TestDaemon } from '../helpers/daemon';
import { fixtureRegistry } from '../fixtures/registry';
import { dockerCli, dockerOk, dockerSync } from '../helpers/docker-cli';
import { defaultVmMemoryMiB } from '../../src/daemon/default-vm-memory';
import { listVmProcesses } from '../helpers/leaks';
import { locateQemuTools } from '../../src/vm/qemu/binaries';
import { savedVmsHaveBalloon } from '../../src/vm/qemu/memory/ram-shim';
import { testIf } from '../helpers/skip';

jest.setTimeout(600000);

const IMAGE = `${fixtureRegistry()}/busybox:latest`;
const PYTHON = `${fixtureRegistry()}/debian-python:3`;
/** Python allocating 1 GiB and touching every page of it. */
const PY_1G = 'b = bytearray(1 << 30); b[::4096] = b"x" * (1 << 18); print(len(b))';
const DD_1G = ['dd', 'if=/dev/zero', 'of=/dev/null', 'bs=1G', 'count=1'];
const MIB = 1024 * 1024;

let d: TestDaemon;

beforeAll(async () => {
  d = await startDaemon({ vmPoolSize: 0 });
  expect((await dockerCli(d, ['pull', '-q', IMAGE])).code).toBe(0);
  expect((await dockerCli(d, ['pull', '-q', PYTHON])).code).toBe(0);
});

afterAll(async () => {
  if (d) await stopDaemonLeavingNothing(d);
});

/** `docker events` for a container from now on, until stopped: the actions seen. */
function watchEvents(name: string): { actions: string[]; stop(): void } {
  const actions: string[] = [];
  const child = spawn('docker', ['events', '--filter', `container=${name}`, '--format', '{{.Action}}'], {
    env: d.env,
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  child.stdout.on('data', (b: Buffer) => actions.push(...b.toString().split('\n').filter(Boolean)));
  return { actions, stop: () => child.kill() };
}

/** Bytes of a size as the docker CLI prints it ("1.9GiB", "512MiB", "12.5kB"). */
function bytesOf(text: string): number {
  const m = /^([\d.]+)\s*([kKMG]i?B|B)$/.exec(text.trim());
  if (!m) throw new Error(`not a size: ${text}`);
  const unit = { B: 1, kB: 1e3, KiB: 1024, MB: 1e6, MiB: MIB, GB: 1e9, GiB: 1024 * MIB } as Record<string, number>;
  return Number(m[1]) * unit[m[2]];
}

test('without -m a container allocates 1 GiB; stats show the VM as its bound, info the host', async () => {
  const r = await dockerCli(d, ['run', '--rm', IMAGE, ...DD_1G], undefined, 300000);
  expect(r.code).toBe(0);
  expect(r.err).toContain('1+0 records out');

  const name = 'pv-grow-stats';
  dockerOk(d, ['run', '-d', '--name', name, IMAGE, 'sleep', '1000']);
  try {
    const usage = dockerOk(d, ['stats', '--no-stream', '--format', '{{.MemUsage}}', name]).trim();
    const limit = bytesOf(usage.split('/')[1]);
    // The guest's MemTotal: the VM's RAM less what its kernel keeps for itself.
    const vm = defaultVmMemoryMiB(os.totalmem()) * MIB;
    expect(limit).toBeGreaterThan(vm * 0.85);
    expect(limit).toBeLessThanOrEqual(vm);
    expect(dockerOk(d, ['info', '--format', '{{.MemTotal}}']).trim()).toBe(String(os.totalmem()));
    expect(dockerOk(d, ['inspect', '-f', '{{.HostConfig.Memory}}', name]).trim()).toBe('0');
  } finally {
    dockerSync(d, ['rm', '-f', name]);
  }
});

test('with -m 128m the 1 GiB allocation is OOM-killed: 137, OOMKilled, an oom event', async () => {
  const name = 'pv-grow-oom';
  const ev = watchEvents(name);
  try {
    await new Promise((r) => setTimeout(r, 500));
    const r = await dockerCli(d, ['run', '--name', name, '-m', '128m', IMAGE, ...DD_1G], undefined, 300000);
    expect(r.code).toBe(137);
    expect(dockerOk(d, ['inspect', '-f', '{{.State.OOMKilled}} {{.State.ExitCode}}', name]).trim()).toBe('true 137');
    for (let i = 0; i < 50 && !ev.actions.includes('die'); i++) await new Promise((res) => setTimeout(res, 100));
    expect(ev.actions).toContain('oom');
    expect(ev.actions.indexOf('oom')).toBeLessThan(ev.actions.indexOf('die'));
  } finally {
    ev.stop();
    dockerSync(d, ['rm', '-f', name]);
  }
});

test('Python allocates 1 GiB without -m; under -m 128m it is OOM-killed with OOMKilled', async () => {
  const r = await dockerCli(d, ['run', '--rm', PYTHON, 'python3', '-c', PY_1G], undefined, 300000);
  expect(r).toMatchObject({ code: 0, out: `${1 << 30}\n` });
  const name = 'pv-grow-py-oom';
  try {
    const k = await dockerCli(
      d,
      ['run', '--name', name, '-m', '128m', PYTHON, 'python3', '-c', PY_1G],
      undefined,
      300000,
    );
    expect(k.code).toBe(137);
    expect(dockerOk(d, ['inspect', '-f', '{{.State.OOMKilled}} {{.State.ExitCode}}', name]).trim()).toBe('true 137');
  } finally {
    dockerSync(d, ['rm', '-f', name]);
  }
});

test('300 MB written into --tmpfs /t:size=1g fits', async () => {
  const r = await dockerCli(
    d,
    [
      'run',
      '--rm',
      '--tmpfs',
      '/t:size=1g',
      IMAGE,
      'sh',
      '-c',
      'dd if=/dev/zero of=/t/f bs=1M count=300 && du -m /t/f',
    ],
    undefined,
    300000,
  );
  expect(r.code).toBe(0);
  expect(r.err).toContain('300+0 records out');
  expect(r.out).toMatch(/^300\s+\/t\/f$/m);
});

test('a restarted daemon re-adopts a VM that grew: the container runs on with its 600 MB', async () => {
  const name = 'pv-grow-restart';
  dockerOk(d, ['run', '-d', '--name', name, '--tmpfs', '/t:size=700m', IMAGE, 'sleep', '1000']);
  try {
    const fill = await dockerCli(
      d,
      ['exec', name, 'sh', '-c', 'dd if=/dev/zero of=/t/f bs=1M count=600 2>/dev/null && du -m /t/f'],
      undefined,
      300000,
    );
    expect(fill).toMatchObject({ code: 0, out: '600\t/t/f\n' });
    await d.restart();
    expect(dockerOk(d, ['inspect', '-f', '{{.State.Status}}', name]).trim()).toBe('running');
    const after = await dockerCli(d, ['exec', name, 'du', '-m', '/t/f'], undefined, 60000);
    expect(after).toMatchObject({ code: 0, out: '600\t/t/f\n' });
    const usage = dockerOk(d, ['stats', '--no-stream', '--format', '{{.MemUsage}}', name]).trim();
    expect(bytesOf(usage.split('/')[0])).toBeGreaterThan(600 * MIB);
  } finally {
    dockerSync(d, ['rm', '-f', name]);
  }
});

/** The QEMUs of this daemon's VMs (not their jails), by pid. */
function daemonQemus(): Set<number> {
  return new Set(
    listVmProcesses()
      .filter((p) => /qemu-system/.test(p.cmdline) && p.cmdline.includes(d.execRoot))
      .map((p) => p.pid),
  );
}

/**
 * PSS of process `pid`, bytes. Throws when the process is gone or its PSS cannot be read: a
 * QEMU that ended has no memory to measure, which must not pass for one that gave it back.
 */
function pssBytes(pid: number): number {
  const rollup = fs.readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
  const m = /^Pss:\s+(\d+) kB$/m.exec(rollup);
  if (!m) throw new Error(`no Pss line in /proc/${pid}/smaps_rollup`);
  const pss = Number(m[1]) * 1024;
  if (pss === 0) throw new Error(`process ${pid} has no resident memory (a zombie?)`);
  return pss;
}

/** sha256 of every template RAM file of this daemon, by path. */
async function templateRamDigests(): Promise<Record<string, string>> {
  const root = path.join(d.execRoot, 'templates');
  const out: Record<string, string> = {};
  for (const key of fs.existsSync(root) ? fs.readdirSync(root) : []) {
    const ram = path.join(root, key, 'ram');
    if (!fs.existsSync(ram)) continue;
    const h = createHash('sha256');
    for await (const chunk of fs.createReadStream(ram, { highWaterMark: 4 * MIB })) h.update(chunk as Buffer);
    out[ram] = h.digest('hex');
  }
  return out;
}

const withBalloon = savedVmsHaveBalloon(locateQemuTools().cloneQemu);
testIf(
  withBalloon,
  "this host's clone QEMU has no read-only private RAM or no RAM shim, so saved VMs get no free-page-reporting balloon",
  "a clone's freed 1 GiB goes back to the host; another clone keeps its memory, the template its file",
  async () => {
    const keep = 'pv-free-keep';
    const big = 'pv-free-big';
    dockerOk(d, ['run', '-d', '--name', keep, '--tmpfs', '/t:size=100m', IMAGE, 'sleep', '1000']);
    try {
      // 64 MiB of the guest's own, written by this clone: its pages are its own copies.
      const fill = await dockerCli(
        d,
        ['exec', keep, 'sh', '-c', 'dd if=/dev/urandom of=/t/f bs=1M count=64 2>/dev/null && md5sum /t/f > /t/f.md5'],
        undefined,
        300000,
      );
      expect(fill.code).toBe(0);
      const templates = await templateRamDigests();
      expect(Object.keys(templates).length).toBeGreaterThan(0);

      const before = daemonQemus();
      dockerOk(d, ['run', '-d', '--name', big, IMAGE, 'sh', '-c', `${DD_1G.join(' ')} && touch /done; sleep 1000`]);
      const pid = [...daemonQemus()].find((p) => !before.has(p));
      expect(pid).toBeDefined();
      let done = false;
      for (let i = 0; i < 600 && !done; i++) {
        done = (await dockerCli(d, ['exec', big, 'test', '-e', '/done'])).code === 0;
        if (!done) await new Promise((r) => setTimeout(r, 500));
      }
      expect(done).toBe(true);
      // The guest reports the freed blocks after a delay: poll, with a deadline far beyond it.
      let pss = pssBytes(pid!);
      for (let i = 0; i < 180 && pss >= 512 * MIB; i++) {
        await new Promise((r) => setTimeout(r, 1000));
        pss = pssBytes(pid!);
      }
      // Without the return it stays above the 1 GiB the dd touched; the QEMU measured is the
      // clone's, still running (pssBytes throws for one that is gone).
      expect(pss).toBeLessThan(512 * MIB);
      expect(daemonQemus().has(pid!)).toBe(true);

      // The other clone runs on with its own bytes, and a new one starts.
      const check = await dockerCli(d, ['exec', keep, 'md5sum', '-c', '/t/f.md5'], undefined, 120000);
      expect(check).toMatchObject({ code: 0, out: '/t/f: OK\n' });
      const again = await dockerCli(d, ['run', '--rm', IMAGE, 'echo', 'fresh'], undefined, 300000);
      expect(again).toMatchObject({ code: 0, out: 'fresh\n' });
      expect(await templateRamDigests()).toEqual(templates);
    } finally {
      dockerSync(d, ['rm', '-f', keep, big]);
    }
  },
);
