/**
 * A VM's memory and a guest that stops answering, through the stock docker CLI on real VMs:
 *  - a tmpfs larger than the VM can hold is capped (src/pod/mounts/tmpfs-size.ts): a 300 MB write
 *    into `--tmpfs /t:size=1g` in a 256 MiB VM (`--vm-memory 256`) ends quickly with "No space left on device",
 *    never a wedged guest, and `docker exec` still answers beside a full tmpfs, also while a
 *    Debian container untars many small files into its rootfs and then into such a tmpfs;
 *  - a process past `-m` is OOM-killed: exit 137, State.OOMKilled, an `oom` event;
 *  - `docker rm -f` of a container spinning its VM's vCPU returns within 10 s;
 *  - a guest whose vCPUs stop (QMP `stop`, as a wedged kernel looks from the host) is reported
 *    by the watchdog (`vm_unresponsive`), and `docker rm -f`, `stop` and `kill` end its VM at once;
 *    one with a health check turns unhealthy (each probe times out, its start never answered).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawn } from 'node:child_process';
import { startDaemon, stopDaemonLeavingNothing, type TestDaemon } from '../helpers/daemon';
import { fixtureRegistry } from '../fixtures/registry';
import { dockerCli, dockerOk, dockerSync } from '../helpers/docker-cli';
import { qmpCommand } from '../../src/vm/qemu/qmp';

jest.setTimeout(600000);

const IMAGE = `${fixtureRegistry()}/busybox:latest`;
const DEBIAN = `${fixtureRegistry()}/debian:bookworm`;

let d: TestDaemon;

beforeAll(async () => {
  // No pool: the only VMs under execRoot/vms are the tests' containers'. VMs of 256 MiB
  // without -m, so a guest runs out of memory in seconds under TCG.
  d = await startDaemon({ vmPoolSize: 0, args: ['--vm-memory', '256'] });
  expect((await dockerCli(d, ['pull', '-q', IMAGE])).code).toBe(0);
  expect((await dockerCli(d, ['pull', '-q', DEBIAN])).code).toBe(0);
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
  child.stdout.on('data', (b: Buffer) =>
    actions.push(
      ...b
        .toString()
        .split('\n')
        .filter((l) => l !== ''),
    ),
  );
  return { actions, stop: () => child.kill() };
}

test("the guest's memory settings without -m (printed for docs/limitations.md)", async () => {
  const script = [
    'head -3 /proc/meminfo',
    'echo "memory.max $(cat /sys/fs/cgroup/memory.max)"',
    'echo "overcommit $(cat /proc/sys/vm/overcommit_memory) min_free_kbytes $(cat /proc/sys/vm/min_free_kbytes)"',
    'echo "swap $(grep SwapTotal /proc/meminfo)"',
    'df -m /dev/shm | tail -1',
  ].join('; ');
  const r = await dockerCli(d, ['run', '--rm', IMAGE, 'sh', '-c', script]);
  console.log(r.out + r.err);
  expect(r.code).toBe(0);
  expect(r.out).toContain('memory.max max');
});

test('without -m, a process that outgrows the VM is OOM-killed by the guest: 137 and OOMKilled', async () => {
  const name = 'pv-mem-oom-vm';
  const t0 = Date.now();
  const r = await dockerCli(d, ['run', '--name', name, IMAGE, 'sh', '-c', 'exec tail /dev/zero'], undefined, 240000);
  console.log(`tail /dev/zero in a 256 MiB VM: exit ${r.code} after ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  try {
    expect(r.code).toBe(137);
    expect(dockerOk(d, ['inspect', '-f', '{{.State.OOMKilled}} {{.State.ExitCode}}', name]).trim()).toBe('true 137');
  } finally {
    dockerSync(d, ['rm', '-f', name]);
  }
});

test('a 300 MB write into --tmpfs size=1g in a 256 MiB VM gets ENOSPC quickly', async () => {
  const t0 = Date.now();
  const script = 'dd if=/dev/zero of=/t/f bs=1M count=300 2>&1; echo "status $?"; df -m /t | tail -1';
  const r = await dockerCli(d, ['run', '--rm', '--tmpfs', '/t:size=1g', IMAGE, 'sh', '-c', script], undefined, 180000);
  const secs = (Date.now() - t0) / 1000;
  console.log(`dd into a 1g tmpfs of a 256 MiB VM: ${secs.toFixed(1)} s\n${r.out}${r.err}`);
  expect(r.code).toBe(0);
  expect(r.out).toContain('No space left on device');
  expect(r.out).toContain('status 1');
});

test('beside a tmpfs filled past what the VM allows, docker exec still answers', async () => {
  const name = 'pv-mem-full';
  dockerOk(d, ['run', '-d', '--name', name, '--tmpfs', '/scratch:size=1g', IMAGE, 'sleep', '1000']);
  try {
    // Three writers at once, as an untar of many files would.
    const fill =
      'for i in 1 2 3; do dd if=/dev/zero of=/scratch/f$i bs=1M count=200 2>/dev/null & done; wait; echo done';
    const r = await dockerCli(d, ['exec', name, 'sh', '-c', fill], undefined, 180000);
    expect(r).toMatchObject({ code: 0, out: 'done\n' });
    const t0 = Date.now();
    const l = await dockerCli(d, ['exec', name, 'cat', '/proc/loadavg'], undefined, 30000);
    expect(l.code).toBe(0);
    expect(Date.now() - t0).toBeLessThan(30000);
    expect(dockerOk(d, ['inspect', '-f', '{{.State.Status}}', name]).trim()).toBe('running');
  } finally {
    dockerSync(d, ['rm', '-f', name]);
  }
});

test('an untar into the rootfs, then the same archive twice into a 1g tmpfs: the tmpfs fills with ENOSPC, exec answers throughout', async () => {
  // The sequence that once wedged a 256 MiB VM for 22 minutes: many small files into the rootfs,
  // then into a tmpfs larger than the VM.
  const name = 'pv-mem-untar';
  dockerOk(d, ['run', '-d', '--name', name, '--tmpfs', '/scratch:size=1g', DEBIAN, 'sleep', '1000']);
  try {
    const pack = await dockerCli(
      d,
      ['exec', name, 'sh', '-c', 'tar -cf /archive.tar -C / usr && du -m /archive.tar && tar -tf /archive.tar | wc -l'],
      undefined,
      180000,
    );
    console.log(`the archive (MiB, entries): ${pack.out.replace(/\n/g, ' ')}`);
    expect(pack.code).toBe(0);
    const rootfs = await dockerCli(
      d,
      ['exec', name, 'sh', '-c', 'mkdir /x && tar -xf /archive.tar -C /x && echo ok'],
      undefined,
      240000,
    );
    expect(rootfs).toMatchObject({ code: 0, out: 'ok\n' });
    const untar =
      'for i in 1 2; do mkdir /scratch/$i; tar -xf /archive.tar -C /scratch/$i 2>/tmp/err$i; echo "status $?"; grep -m1 "No space left" /tmp/err$i; done; df -m /scratch | tail -1';
    let done = false;
    const scratch = dockerCli(d, ['exec', name, 'sh', '-c', untar], undefined, 300000).finally(() => (done = true));
    let answers = 0;
    while (!done) {
      const l = await dockerCli(d, ['exec', name, 'cat', '/proc/loadavg'], undefined, 30000);
      expect(l.code).toBe(0);
      answers++;
      await new Promise((r) => setTimeout(r, 500));
    }
    const r = await scratch;
    console.log(`untar twice into a 1g tmpfs of a 256 MiB VM (${answers} execs answered meanwhile):\n${r.out}${r.err}`);
    expect(r.code).toBe(0);
    expect(r.out).toContain('No space left on device');
    expect((await dockerCli(d, ['exec', name, 'cat', '/proc/loadavg'], undefined, 30000)).code).toBe(0);
    expect(dockerOk(d, ['inspect', '-f', '{{.State.Status}}', name]).trim()).toBe('running');
  } finally {
    dockerSync(d, ['rm', '-f', name]);
  }
});

test('a process past -m 64m is OOM-killed: 137, OOMKilled, an oom event', async () => {
  const name = 'pv-mem-oom';
  const ev = watchEvents(name);
  try {
    await new Promise((r) => setTimeout(r, 500));
    // `tail` keeps the last lines of a stream with no newline: all of it, in anonymous memory.
    const r = await dockerCli(
      d,
      ['run', '--name', name, '-m', '64m', IMAGE, 'sh', '-c', 'exec tail /dev/zero'],
      undefined,
      180000,
    );
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

test('docker rm -f of a container spinning its vCPU returns within 10 s', async () => {
  const name = 'pv-mem-busy';
  dockerOk(d, ['run', '-d', '--name', name, '--cpus', '1', IMAGE, 'sh', '-c', 'while :; do :; done']);
  await new Promise((r) => setTimeout(r, 2000));
  const t0 = Date.now();
  const r = await dockerCli(d, ['rm', '-f', name], undefined, 30000);
  const secs = (Date.now() - t0) / 1000;
  console.log(`rm -f of a busy container: ${secs.toFixed(1)} s`);
  expect(r.code).toBe(0);
  expect(secs).toBeLessThan(10);
});

describe('guests whose vCPUs stop', () => {
  const VERBS = [['rm', '-f'], ['stop', '-t', '10'], ['kill']];
  /** Per verb: its container, the container's events and its VM's directory under execRoot/vms. */
  const frozen = new Map<string, { name: string; ev: ReturnType<typeof watchEvents>; vm: string }>();
  const HEALTHY = 'pv-mem-frozen-health';
  const HEALTH = ['--health-cmd', 'true', '--health-interval', '1s', '--health-timeout', '2s', '--health-retries', '2'];
  const healthOf = (name: string) => dockerOk(d, ['inspect', '-f', '{{.State.Health.Status}}', name]).trim();

  // One container per verb, each in its VM, all frozen at once: the watchdog's silence (20 s)
  // passes once for the three.
  beforeAll(async () => {
    const vmsDir = path.join(d.execRoot, 'vms');
    for (const [verb] of VERBS) {
      const name = `pv-mem-frozen-${verb}`;
      const before = fs.readdirSync(vmsDir);
      frozen.set(verb, { name, ev: watchEvents(name), vm: '' });
      dockerOk(d, ['run', '-d', '--name', name, IMAGE, 'sleep', '1000']);
      const added = fs.readdirSync(vmsDir).filter((v) => !before.includes(v));
      expect(added).toHaveLength(1);
      frozen.get(verb)!.vm = added[0];
    }
    // And one with a health check, healthy before its guest stops.
    const before = fs.readdirSync(vmsDir);
    dockerOk(d, ['run', '-d', '--name', HEALTHY, ...HEALTH, IMAGE, 'sleep', '1000']);
    const added = fs.readdirSync(vmsDir).filter((v) => !before.includes(v));
    expect(added).toHaveLength(1);
    for (let i = 0; i < 120 && healthOf(HEALTHY) !== 'healthy'; i++) await new Promise((r) => setTimeout(r, 500));
    expect(healthOf(HEALTHY)).toBe('healthy');
    for (const vm of [...[...frozen.values()].map((f) => f.vm), added[0]])
      await qmpCommand(path.join(vmsDir, vm, 'run', 'qmp.sock'), 'stop');
  });

  afterAll(() => {
    for (const { name, ev } of frozen.values()) {
      ev.stop();
      dockerSync(d, ['rm', '-f', name]);
    }
    dockerSync(d, ['rm', '-f', HEALTHY]);
  });

  test('a container with a health check whose guest stops answering turns unhealthy: each probe times out', async () => {
    for (let i = 0; i < 120 && healthOf(HEALTHY) !== 'unhealthy'; i++) await new Promise((r) => setTimeout(r, 500));
    expect(healthOf(HEALTHY)).toBe('unhealthy');
    const log = JSON.parse(dockerOk(d, ['inspect', '-f', '{{json .State.Health.Log}}', HEALTHY])) as Array<{
      ExitCode: number;
      Output: string;
    }>;
    const timedOut = { ExitCode: -1, Output: 'Health check exceeded timeout (2s)' };
    expect(log.slice(-2)).toEqual([expect.objectContaining(timedOut), expect.objectContaining(timedOut)]);
  });

  test.each(VERBS)(
    'a guest whose vCPUs stop is reported unresponsive, and docker %s ends its VM at once',
    async (...verb) => {
      const { name, ev, vm } = frozen.get(verb[0])!;
      for (let i = 0; i < 120 && !ev.actions.includes('vm_unresponsive'); i++)
        await new Promise((r) => setTimeout(r, 500));
      expect(ev.actions).toContain('vm_unresponsive');
      expect(d.logs()).toContain('is unresponsive');
      const t0 = Date.now();
      const r = await dockerCli(d, [...verb, name], undefined, 30000);
      const secs = (Date.now() - t0) / 1000;
      console.log(`docker ${verb.join(' ')} of an unresponsive VM: ${secs.toFixed(1)} s`);
      expect(r.code).toBe(0);
      expect(secs).toBeLessThan(10);
      expect(fs.readdirSync(path.join(d.execRoot, 'vms'))).not.toContain(vm);
      // Stopped or killed: exited 137; removed: gone.
      const shown = dockerSync(d, ['inspect', '-f', '{{.State.Status}} {{.State.ExitCode}}', name]);
      expect({ verb: verb[0], shown: shown.code === 0 ? shown.out.trim() : 'gone' }).toEqual({
        verb: verb[0],
        shown: verb[0] === 'rm' ? 'gone' : 'exited 137',
      });
    },
  );
});
