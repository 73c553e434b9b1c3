/**
 * Pods of several containers in one real VM, created from pod files through the pod layer as
 * the daemon wires it (test/helpers/real-pods.ts): a Kubernetes Pod whose init containers run
 * in order, whose sidecar writes into a shared emptyDir (and copies a hostPath file) that the
 * main container serves over localhost, whose containers see each other's processes and
 * share one hostname; a stop that gives a TERM-trapping container its time and kills a
 * TERM-ignoring one at the deadline; a failing init container reported with its code and
 * output; and a hyper podfile pod that survives the SIGKILL of the process that started it.
 * Three VMs in all.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { InitContainerFailedError } from '../../src/pod/lifecycle/init-containers';
import { listVmProcesses, mountsUnder } from '../helpers/leaks';
import { createFromPodFile, execIn, logText, openRealPods, type RealPods } from '../helpers/real-pods';

jest.setTimeout(240_000);

let root: string;
let hostDir: string;
let p: RealPods | undefined;

beforeAll(async () => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'pv-pods-'));
  hostDir = path.join(root, 'host');
  fs.mkdirSync(hostDir);
  fs.writeFileSync(path.join(hostDir, 'from-host.txt'), 'hello from the host\n');
  p = await openRealPods(root);
});

afterAll(async () => {
  if (p) {
    for (const r of p.pods.list()) await p.pods.remove(r.id, { force: true }).catch(() => undefined);
    await p.pods.settled();
  }
  const execRoot = path.join(root, 'exec');
  const ours = listVmProcesses({ jails: true }).filter((x) => x.cmdline.includes(execRoot));
  const mounts = mountsUnder(root);
  fs.rmSync(root, { recursive: true, force: true });
  expect(ours).toEqual([]);
  expect(mounts).toEqual([]);
});

const WEB = (hostPath: string) => `
apiVersion: v1
kind: Pod
metadata:
  name: web
  labels: {app: web}
spec:
  terminationGracePeriodSeconds: 6
  restartPolicy: Never
  initContainers:
  - name: first
    image: busybox
    command: [sh, -c, "echo one > /www/order; echo first-ran"]
    volumeMounts: [{name: www, mountPath: /www}]
  - name: second
    image: busybox
    command: [sh, -c, "echo two >> /www/order"]
    volumeMounts: [{name: www, mountPath: /www}]
  containers:
  - name: main
    image: busybox
    command: [httpd, -f, -p, "8080", -h, /www]
    volumeMounts: [{name: www, mountPath: /www, readOnly: true}]
  - name: sidecar
    image: busybox
    command: [sh, -c, "cp /host/from-host.txt /www/; while true; do echo tick-$$ > /www/index.html; sleep 1; done"]
    volumeMounts: [{name: www, mountPath: /www}, {name: host, mountPath: /host, readOnly: true}]
    resources: {limits: {memory: 64Mi}}
  - name: trapper
    image: busybox
    command: [sh, -c, "trap 'echo got-term; sleep 2; echo trapper-done; exit 0' TERM; echo trapper-up; while true; do sleep 0.2; done"]
  - name: ignorer
    image: busybox
    command: [sh, -c, "trap '' TERM; while true; do sleep 0.2; done"]
  volumes:
  - name: www
    emptyDir: {}
  - name: host
    hostPath: {path: ${hostPath}}
`;

async function until<T>(what: () => Promise<T | undefined>, ms = 30_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await what().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 250));
  }
}

test('a Kubernetes Pod: init containers in order, a shared emptyDir served over localhost, shared PIDs and hostname, cgroup limit, grace honoured', async () => {
  const pods = (p as RealPods).pods;
  const r = await createFromPodFile(p as RealPods, WEB(hostDir), 'a'.repeat(64));
  await pods.start(r.id);

  // Init containers ran to completion, in order, before the app containers.
  const running = pods.get('web');
  for (const name of ['first', 'second']) {
    expect(Object.values(running.containers).find((c) => c.spec.name === name)?.state).toMatchObject({
      status: 'exited',
      exitCode: 0,
    });
  }
  expect(await logText(pods, 'web', 'first')).toBe('first-ran\n');
  expect((await execIn(pods, 'web', 'main', ['cat', '/www/order'])).out).toBe('one\ntwo\n');

  // The sidecar writes into the emptyDir; the main container serves it on localhost; the
  // sidecar fetches it from the main container's server.
  const page = await until(async () => {
    const got = await execIn(pods, 'web', 'sidecar', ['wget', '-qO-', 'http://localhost:8080/index.html']);
    return got.exitCode === 0 && got.out.startsWith('tick-') ? got.out : undefined;
  });
  expect(page).toMatch(/^tick-\d+\n$/);
  expect((await execIn(pods, 'web', 'sidecar', ['wget', '-qO-', 'http://127.0.0.1:8080/from-host.txt'])).out).toBe(
    'hello from the host\n',
  );
  // Read-only where the file says so.
  expect((await execIn(pods, 'web', 'main', ['sh', '-c', 'echo x > /www/nope'])).exitCode).not.toBe(0);

  // One PID namespace: ps in the main container shows the sidecar's loop and the others.
  const ps = (await execIn(pods, 'web', 'main', ['ps', '-o', 'pid,args'])).out;
  expect(ps).toContain('httpd -f -p 8080');
  expect(ps).toContain('echo tick-');
  expect(ps).toContain("trap '' TERM");
  // One hostname, the pod's; each container its own rootfs (a file in one is not in another).
  expect((await execIn(pods, 'web', 'main', ['hostname'])).out).toBe('web\n');
  expect((await execIn(pods, 'web', 'ignorer', ['hostname'])).out).toBe('web\n');
  await execIn(pods, 'web', 'trapper', ['touch', '/only-in-trapper']);
  expect((await execIn(pods, 'web', 'ignorer', ['ls', '/only-in-trapper'])).exitCode).not.toBe(0);
  // The sidecar's memory limit is its own cgroup's.
  expect((await execIn(pods, 'web', 'sidecar', ['cat', '/sys/fs/cgroup/memory.max'])).out).toBe(
    `${64 * 1024 * 1024}\n`,
  );
  expect((await execIn(pods, 'web', 'main', ['cat', '/sys/fs/cgroup/memory.max'])).out).toBe('max\n');

  // Stop with the pod's grace (6 s): TERM to each container; the trapper finishes its 2 s
  // handler and exits 0, the ignorer is killed at the deadline.
  await until(async () => ((await logText(pods, 'web', 'trapper')).includes('trapper-up') ? true : undefined));
  const t0 = Date.now();
  await pods.stop('web');
  const took = Date.now() - t0;
  const stopped = pods.get('web');
  const state = (name: string) => Object.values(stopped.containers).find((c) => c.spec.name === name)?.state;
  expect(state('trapper')).toMatchObject({ status: 'exited', exitCode: 0 });
  expect(await logText(pods, 'web', 'trapper')).toContain('got-term\ntrapper-done\n');
  expect(state('ignorer')).toMatchObject({ status: 'exited', exitCode: 137 });
  expect(state('main')?.status).toBe('exited');
  expect(took).toBeGreaterThanOrEqual(6000);
});

test('a failing init container fails the start with its exit code and output; the app containers never start', async () => {
  const pods = (p as RealPods).pods;
  const r = await createFromPodFile(
    p as RealPods,
    `
apiVersion: v1
kind: Pod
metadata: {name: broken}
spec:
  initContainers:
  - {name: ok, image: busybox, command: ["true"]}
  - {name: bad, image: busybox, command: [sh, -c, "echo cannot-migrate >&2; exit 3"]}
  containers:
  - {name: app, image: busybox, command: [sleep, "100"]}
`,
    'b'.repeat(64),
  );
  const err = await pods.start(r.id).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(InitContainerFailedError);
  expect((err as Error).message).toBe('init container bad failed with exit code 3: cannot-migrate');
  const after = pods.get('broken');
  expect(pods.isRunning('broken')).toBe(false);
  const byName = (n: string) => Object.values(after.containers).find((c) => c.spec.name === n);
  expect(byName('ok')?.state).toMatchObject({ status: 'exited', exitCode: 0 });
  expect(byName('bad')?.state).toMatchObject({ status: 'exited', exitCode: 3 });
  expect(byName('app')?.state).toMatchObject({
    status: 'created',
    exitCode: 3,
    error: expect.stringContaining('init container bad'),
  });
  expect(await logText(pods, 'broken', 'bad')).toBe('cannot-migrate\n');
});

test('a hyper podfile pod keeps running through the SIGKILL of the process that started it, and is re-adopted', async () => {
  (p as RealPods).close();
  p = undefined;
  const podfile = JSON.stringify({
    id: 'hyper',
    hostname: 'hyperhost',
    containers: [
      { name: 'one', image: 'busybox', command: ['sleep', '1001'] },
      { name: 'two', image: 'busybox', command: ['sh', '-c', 'echo two-up; exec sleep 1002'] },
    ],
  });
  const child = spawn(
    path.resolve(__dirname, '../../node_modules/.bin/ts-node'),
    ['--transpile-only', '-P', 'tsconfig.json', 'test/helpers/real-pods.ts', root, 'c'.repeat(64)],
    {
      cwd: path.resolve(__dirname, '../..'),
      stdio: ['pipe', 'pipe', 'pipe'],
    },
  );
  let out = '';
  let errOut = '';
  child.stdout.on('data', (d: Buffer) => (out += String(d)));
  child.stderr.on('data', (d: Buffer) => (errOut += String(d)));
  child.stdin.end(podfile);
  const exited = new Promise<void>((r) => child.on('exit', () => r()));
  await until(async () => (out.includes('started') ? true : undefined), 120_000).catch((e: Error) => {
    throw new Error(`${e.message}: ${errOut}`);
  });
  child.kill('SIGKILL');
  await exited;

  p = await openRealPods(root);
  const pods = p.pods;
  await pods.whenAdopted('hyper');
  expect(pods.isRunning('hyper')).toBe(true);
  const ps = (await execIn(pods, 'hyper', 'one', ['ps', '-o', 'args'])).out;
  expect(ps).toContain('sleep 1001');
  expect(ps).toContain('sleep 1002');
  expect((await execIn(pods, 'hyper', 'two', ['hostname'])).out).toBe('hyperhost\n');
  expect(await logText(pods, 'hyper', 'two')).toBe('two-up\n');
  // Grace 0 with force: removed at once.
  await pods.remove('hyper', { force: true });
  expect(() => pods.get('hyper')).toThrow();
});
