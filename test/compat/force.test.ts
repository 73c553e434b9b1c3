/**
 * Force wins (kill and rm -f never wait behind a stop), through the stock docker CLI on real VMs:
 *  - `docker stop -t -1` (dockerd: send the stop signal, then wait with no deadline) returns
 *    once a container whose TERM trap exits has exited;
 *  - `docker rm -f` and `docker kill` during a pending stop or restart (a container that
 *    ignores TERM, stopped with no deadline), or during a start queued behind such a stop,
 *    each return within 2 s, and the pending operations answer too, leaving no VM behind;
 *  - the same kill over dockerode.
 * Every container prints "ready" after its `trap` and the test waits for it: PID 1 ignores
 * an untrapped TERM, so a stop sent earlier would not test the trap.
 */
import { spawn } from 'node:child_process';
import Dockerode from 'dockerode';
import { startDaemon, stopDaemonLeavingNothing, type TestDaemon } from '../helpers/daemon';
import { listVmProcesses } from '../helpers/leaks';
import { fixtureRegistry } from '../fixtures/registry';

jest.setTimeout(180000);

const REG = fixtureRegistry();
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

/**
 * `docker run -d` a shell that installs `trap` (PID 1 ignores an untrapped TERM, so a stop
 * sent before the trap would not reach it) and prints "ready"; resolve once the log shows it.
 */
async function runTrapped(d: TestDaemon, name: string, trap: string): Promise<void> {
  const script = `trap ${trap} TERM; echo ready; while true; do sleep 0.1; done`;
  expect((await docker(d, ['run', '-d', '--name', name, IMAGE, 'sh', '-c', script])).code).toBe(0);
  const deadline = Date.now() + 30000;
  while ((await docker(d, ['logs', name])).out !== 'ready\n') {
    if (Date.now() > deadline) throw new Error(`${name} never printed "ready"`);
    await sleep(100);
  }
}

describe('force wins (docker CLI, real VMs)', () => {
  let d: TestDaemon;
  const vms = () => listVmProcesses({ jails: true }).filter((p) => p.cmdline.includes(d.execRoot));
  /**
   * No QEMU of this daemon is left. The VM of a dead container is destroyed in the background
   * (tens of ms after the answer), so this waits for it, up to `withinMs` (5 s by default).
   */
  async function expectNoVm(withinMs = 5000): Promise<void> {
    const deadline = Date.now() + withinMs;
    while (vms().length > 0 && Date.now() < deadline) await sleep(50);
    expect(vms()).toEqual([]);
  }
  beforeAll(async () => {
    // No pool and no templates: every start boots its VM (700 ms to 2 s under TCG), the window
    // the rm -f during a boot needs; a clone from a template is ready in about 200 ms.
    d = await startDaemon({ vmPoolSize: 0, args: ['--vm-templates=false'] });
    expect((await docker(d, ['pull', '-q', IMAGE])).code).toBe(0);
  });
  afterAll(async () => {
    if (d) await stopDaemonLeavingNothing(d);
  });

  test('stop -t -1 returns once the TERM trap has exited', async () => {
    await runTrapped(d, 'trap', '"exit 3"');
    const stop = await docker(d, ['stop', '-t', '-1', 'trap']);
    expect(stop).toMatchObject({ code: 0, out: 'trap\n' });
    expect((await docker(d, ['inspect', '-f', '{{.State.Status}} {{.State.ExitCode}}', 'trap'])).out).toBe(
      'exited 3\n',
    );
    expect((await docker(d, ['rm', 'trap'])).code).toBe(0);
  });

  /**
   * A running container that ignores TERM, and `op` (a stop or restart with no deadline) of
   * it, pending for a second. The CLI call is returned inside an object: an async function
   * returning the promise itself would make the caller's await wait for the CLI to finish.
   */
  async function pendingStop(name: string, op: string[]): Promise<{ pending: ReturnType<typeof docker> }> {
    await runTrapped(d, name, '""');
    const pending = docker(d, [...op, name]);
    await sleep(1000);
    return { pending };
  }

  test('rm -f during a pending stop -t -1', async () => {
    const { pending: stop } = await pendingStop('s1', ['stop', '-t', '-1']);
    const rm = await docker(d, ['rm', '-f', 's1']);
    expect(rm.code).toBe(0);
    expect(rm.ms).toBeLessThan(FORCE_BOUND_MS);
    expect((await stop).code).toBe(0);
    await expectNoVm();
  });

  test('kill during a pending restart -t -1: the restart does not start it again', async () => {
    const { pending: restart } = await pendingStop('s2', ['restart', '-t', '-1']);
    const kill = await docker(d, ['kill', 's2']);
    expect(kill.code).toBe(0);
    expect(kill.ms).toBeLessThan(FORCE_BOUND_MS);
    const r = await restart;
    expect(r.code).not.toBe(0);
    expect(r.err).toContain('killed while the restart was pending');
    expect((await docker(d, ['inspect', '-f', '{{.State.Status}}', 's2'])).out).toBe('exited\n');
    await expectNoVm();
    expect((await docker(d, ['rm', 's2'])).code).toBe(0);
  });

  test('rm -f during a start queued behind a pending stop', async () => {
    const { pending: stop } = await pendingStop('s3', ['stop', '-t', '-1']);
    const start = docker(d, ['start', 's3']);
    await sleep(300);
    const rm = await docker(d, ['rm', '-f', 's3']);
    expect(rm.code).toBe(0);
    expect(rm.ms).toBeLessThan(FORCE_BOUND_MS);
    expect((await stop).code).toBe(0);
    const st = await start;
    expect(st.code).not.toBe(0);
    expect(st.err).toMatch(/No such container/);
    await expectNoVm();
  });

  test('rm -f during a start that waits for its VM to boot', async () => {
    // No pool, no templates: the start boots a VM. rm -f, sent as soon as the VM's QEMU is
    // there, gives the start up at once; the VM that arrives later is destroyed in the background.
    expect((await docker(d, ['create', '--name', 'booting', IMAGE, 'sleep', '1000'])).code).toBe(0);
    const start = docker(d, ['start', 'booting']);
    const qemuUp = () => vms().some((p) => p.cmdline.includes('qemu-system'));
    for (const end = Date.now() + 30000; !qemuUp() && Date.now() < end; ) await sleep(10);
    expect(qemuUp()).toBe(true);
    const rm = await docker(d, ['rm', '-f', 'booting']);
    expect(rm.code).toBe(0);
    // Well under the ~2 s a TCG boot takes: the removal did not wait for the boot (it answers in
    // ~50 ms; before, it waited ~1.7-1.9 s for the VM).
    expect(rm.ms).toBeLessThan(1000);
    const st = await start;
    expect(st.code).not.toBe(0);
    expect((await docker(d, ['ps', '-a', '-q', '--filter', 'name=booting'])).out).toBe('');
    await expectNoVm(20000);
  });

  test('dockerode: kill during a pending stop with t=-1', async () => {
    const api = new Dockerode({ socketPath: d.socketPath });
    await runTrapped(d, 's5', '""');
    const c = api.getContainer('s5');
    let answered = false;
    const stop = c.stop({ t: -1 }).then(() => (answered = true));
    await sleep(1000);
    expect(answered).toBe(false);
    const t0 = Date.now();
    await c.kill();
    expect(Date.now() - t0).toBeLessThan(FORCE_BOUND_MS);
    await stop;
    expect((await c.inspect()).State).toMatchObject({ Status: 'exited', ExitCode: 137 });
    await expectNoVm();
    await c.remove();
  });
});
