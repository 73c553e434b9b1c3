/**
 * A daemon that dies in the middle of a checkpoint's save, or while a container is paused,
 * loses nothing: the next daemon re-adopts the container as it was. The save stops the VM,
 * lets go of its rootfs share and writes its state; a daemon killed (SIGKILL, by
 * PODVISOR_FAULT: src/vm/qemu/fault.ts) after each of those steps left a stopped guest that the
 * next one used to wait on for ever (never ready), or gave up as lost. Now the save is dropped
 * as a failed one is: the container runs on, no checkpoint is listed or left half written, and
 * the next save works. A paused container stays paused, and unpauses. Through the stock CLI,
 * on real VMs.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { startDaemon, stopDaemonLeavingNothing, type TestDaemon } from '../helpers/daemon';
import { dockerOk, dockerSync } from '../helpers/docker-cli';
import { fixtureRegistry } from '../fixtures/registry';

jest.setTimeout(900_000);

const IMAGE = `${fixtureRegistry()}/busybox`;
/** Counts in /n, five times a second. */
const COUNTER = 'i=0; while true; do i=$((i+1)); echo $i > /n; sleep 0.2; done';

/** The daemon's environment, read at each launch: a fault is armed for one launch. */
const env: Record<string, string> = {};
let d: TestDaemon;
beforeAll(async () => {
  d = await startDaemon({ env, args: ['--experimental'] });
  dockerOk(d, ['pull', '-q', IMAGE], 300_000);
});
afterAll(async () => {
  if (d) await stopDaemonLeavingNothing(d);
});

/** Container `name`'s count now. */
function count(name: string): number {
  return Number(dockerOk(d, ['exec', name, 'cat', '/n']).trim());
}

/** Wait until container `name`'s count passes `n`. */
async function countsPast(name: string, n: number): Promise<number> {
  for (let i = 0; i < 300; i++) {
    const r = dockerSync(d, ['exec', name, 'cat', '/n']);
    if (r.code === 0 && Number(r.out) > n) return Number(r.out);
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${name} did not count past ${n}`);
}

describe.each(['save-after-release-share', 'save-after-stop', 'save-after-state-written'])(
  'a daemon killed at %s',
  (point) => {
    test('the container runs on, the save is dropped, and the next save works', async () => {
      const name = `c-${point}`;
      dockerOk(d, ['run', '-d', '--name', name, IMAGE, 'sh', '-c', COUNTER]);
      const id = dockerOk(d, ['inspect', '-f', '{{.Id}}', name]).trim();
      const before = await countsPast(name, 0);
      env.PODVISOR_FAULT = point;
      await d.restart();
      const saved = dockerSync(d, ['checkpoint', 'create', '--leave-running', name, 'cp1']);
      expect(saved.code).not.toBe(0);
      for (let i = 0; i < 100 && d.pid() !== undefined; i++) await new Promise((r) => setTimeout(r, 100));
      expect(d.pid()).toBeUndefined();
      delete env.PODVISOR_FAULT;
      await d.restart();

      expect(dockerOk(d, ['inspect', '-f', '{{.State.Status}}', name]).trim()).toBe('running');
      // Its guest runs: it counts on from where it was.
      await countsPast(name, (await countsPast(name, before)) + 2);
      expect(dockerOk(d, ['checkpoint', 'ls', name]).trim().split('\n').slice(1)).toEqual([]);
      expect(fs.readdirSync(path.join(d.dataRoot, 'containers', id, 'checkpoints'))).toEqual([]);
      // Its rootfs is there, and the next save works.
      expect(dockerOk(d, ['exec', name, 'ls', '/bin/sh']).trim()).toBe('/bin/sh');
      dockerOk(d, ['checkpoint', 'create', '--leave-running', name, 'cp1']);
      expect(dockerOk(d, ['checkpoint', 'ls', name])).toContain('cp1');
      expect(dockerOk(d, ['inspect', '-f', '{{.State.Status}}', name]).trim()).toBe('running');
      await countsPast(name, count(name) + 2);
      dockerOk(d, ['rm', '-f', name]);
    });
  },
);

test('a paused container stays paused across a daemon crash, and unpauses', async () => {
  dockerOk(d, ['run', '-d', '--name', 'paused1', IMAGE, 'sh', '-c', COUNTER]);
  await countsPast('paused1', 0);
  dockerOk(d, ['pause', 'paused1']);
  await d.kill9();
  await d.restart();
  expect(dockerOk(d, ['inspect', '-f', '{{.State.Status}} {{.State.Paused}}', 'paused1']).trim()).toBe('paused true');
  const exec = dockerSync(d, ['exec', 'paused1', 'true']);
  expect(exec.code).not.toBe(0);
  expect(exec.err).toMatch(/is paused/);
  dockerOk(d, ['unpause', 'paused1']);
  await countsPast('paused1', count('paused1') + 2);
  dockerOk(d, ['rm', '-f', 'paused1']);
});
