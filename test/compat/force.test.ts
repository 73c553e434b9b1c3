/**
 * Force wins, through the stock docker CLI on real VMs (issue 19):
 *  - `docker stop -t -1` (dockerd: send the stop signal, then wait with no deadline) returns
 *    once a container whose TERM trap exits has exited;
 *  - `docker rm -f` and `docker kill` during a pending stop, restart or start (a container
 *    that ignores TERM, stopped with no deadline) each return within 2 s, and the pending
 *    operation returns too, leaving no VM behind.
 */
import { spawn } from 'node:child_process';
import { startDaemon, stopDaemonLeavingNothing, type TestDaemon } from '../helpers/daemon';
import { listVmProcesses } from '../helpers/leaks';
import { FIXTURE_REGISTRY } from '../fixtures/registry';

jest.setTimeout(180000);

const REG = process.env.PODVISOR_TEST_REGISTRY ?? FIXTURE_REGISTRY;
const IMAGE = `${REG}/busybox`;
/** The bound the issue sets for kill / rm -f over a pending operation. */
const FORCE_BOUND_MS = 2000;

function docker(d: TestDaemon, args: string[]): Promise<{ out: string; err: string; code: number; ms: number }> {
  const t0 = Date.now();
  return new Promise((resolve, reject) => {
    const p = spawn('docker', args, { env: d.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (c: Buffer) => (out += c.toString()));
    p.stderr.on('data', (c: Buffer) => (err += c.toString()));
    const timer = setTimeout(() => p.kill('SIGKILL'), 60000);
    p.on('error', reject);
    p.on('close', (code) => {
      clearTimeout(timer);
      resolve({ out, err, code: code ?? -1, ms: Date.now() - t0 });
    });
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('force wins (docker CLI, real VMs)', () => {
  let d: TestDaemon;
  const vms = () => listVmProcesses().filter((p) => p.cmdline.includes(d.execRoot));
  beforeAll(async () => {
    d = await startDaemon({ vmPoolSize: 0 });
    expect((await docker(d, ['pull', '-q', IMAGE])).code).toBe(0);
  });
  afterAll(async () => {
    if (d) await stopDaemonLeavingNothing(d);
  });

  test('stop -t -1 returns once the TERM trap has exited', async () => {
    expect((await docker(d, ['run', '-d', '--name', 'trap', IMAGE, 'sh', '-c', 'trap "exit 3" TERM; while true; do sleep 0.1; done'])).code).toBe(0);
    const stop = await docker(d, ['stop', '-t', '-1', 'trap']);
    expect(stop).toMatchObject({ code: 0, out: 'trap\n' });
    expect((await docker(d, ['inspect', '-f', '{{.State.Status}} {{.State.ExitCode}}', 'trap'])).out).toBe('exited 3\n');
    expect((await docker(d, ['rm', 'trap'])).code).toBe(0);
  });

  /** A running container that ignores TERM, and a stop of it with no deadline, pending. */
  async function pendingStop(name: string, op: string[]) {
    expect((await docker(d, ['run', '-d', '--name', name, IMAGE, 'sh', '-c', 'trap "" TERM; while true; do sleep 0.1; done'])).code).toBe(0);
    const pending = docker(d, [...op, name]);
    await sleep(1000);
    return pending;
  }

  test('rm -f during a pending stop -t -1', async () => {
    const stop = await pendingStop('s1', ['stop', '-t', '-1']);
    const rm = await docker(d, ['rm', '-f', 's1']);
    expect(rm.code).toBe(0);
    expect(rm.ms).toBeLessThan(FORCE_BOUND_MS);
    expect((await stop).code).toBe(0);
    expect(vms()).toEqual([]);
  });

  test('kill during a pending restart -t -1: the restart does not start it again', async () => {
    const restart = await pendingStop('s2', ['restart', '-t', '-1']);
    const kill = await docker(d, ['kill', 's2']);
    expect(kill.code).toBe(0);
    expect(kill.ms).toBeLessThan(FORCE_BOUND_MS);
    const r = await restart;
    expect(r.code).not.toBe(0);
    expect(r.err).toContain('killed while the restart was pending');
    expect((await docker(d, ['inspect', '-f', '{{.State.Status}}', 's2'])).out).toBe('exited\n');
    expect(vms()).toEqual([]);
    expect((await docker(d, ['rm', 's2'])).code).toBe(0);
  });

  test('rm -f during a start queued behind a pending stop', async () => {
    const stop = await pendingStop('s3', ['stop', '-t', '-1']);
    const start = docker(d, ['start', 's3']);
    await sleep(300);
    const rm = await docker(d, ['rm', '-f', 's3']);
    expect(rm.code).toBe(0);
    expect(rm.ms).toBeLessThan(FORCE_BOUND_MS);
    expect((await stop).code).toBe(0);
    const st = await start;
    expect(st.code).not.toBe(0);
    expect(st.err).toMatch(/No such container/);
    expect(vms()).toEqual([]);
  });
});
