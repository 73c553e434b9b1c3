/**
 * Kubernetes probes in pod files, on real VMs, as a user sees them through the `podvisor` CLI
 * (and `docker inspect`): a liveness exec probe that starts failing restarts its container in
 * place (same VM, the other containers untouched) and its restart count goes up; a readiness
 * httpGet probe (by named port) against busybox's httpd, run from the host to the pod's
 * address, flips the container's `ready` and the pod's Ready condition both ways; a readiness
 * tcpSocket probe turns ready once the port listens; a startup probe holds a liveness probe
 * off until it succeeds, and one that never succeeds has its container restarted; in a pod
 * of one container a tcpSocket liveness probe restarts it in place, on the same VM.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { startDaemon, stopDaemonLeavingNothing, type TestDaemon } from '../helpers/daemon';
import { dockerCli } from '../helpers/docker-cli';
import { fixtureRegistry } from '../fixtures/registry';
import { podvisor, podvisorOk } from '../helpers/podvisor-cli';

jest.setTimeout(300000);

const REG = fixtureRegistry();
const IMAGE = `${REG}/busybox`;
const ok = podvisorOk;

interface Container {
  name: string;
  status: string;
  ready: boolean;
  started: boolean;
  restartCount: number;
}
interface Pod {
  name: string;
  state: string;
  vm: string;
  ready: boolean;
  conditions: Array<{ type: string; status: string }>;
  containers: Container[];
}

/** Poll `f` until it holds (or fail after a generous `ms`, saying what `seen` shows then). */
async function until(f: () => Promise<boolean>, seen: () => Promise<string>, ms = 150000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await f())) {
    if (Date.now() > end) throw new Error(`condition not met in time; last seen: ${await seen()}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

describe('probes in pod files through the podvisor CLI', () => {
  let d: TestDaemon;
  let dir: string;
  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'probes-'));
    d = await startDaemon({ vmPoolSize: 1 });
    await ok(d, ['pull', IMAGE]);
  });
  afterAll(async () => {
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
    if (!d) return;
    for (const p of JSON.parse((await podvisor(d, ['list', '--json'])).out || '[]') as Array<{ id: string }>)
      await podvisor(d, ['rm', '-f', p.id]);
    await stopDaemonLeavingNothing(d);
  });

  const pod = async (name: string): Promise<Pod> =>
    (JSON.parse(await ok(d, ['list', '--json'])) as Pod[]).find((p) => p.name === name) as Pod;
  const container = async (p: string, c: string): Promise<Container> =>
    (await pod(p)).containers.find((x) => x.name === c) as Container;
  const show = (p: string) => async () =>
    JSON.stringify((await pod(p))?.containers.map((c) => [c.name, c.status, c.ready, c.started, c.restartCount]));

  test("liveness exec restarts its container in place; readiness httpGet and tcpSocket flip ready and the pod's Ready condition", async () => {
    const file = path.join(dir, 'probed.yaml');
    fs.writeFileSync(
      file,
      `apiVersion: v1
kind: Pod
metadata:
  name: probed
spec:
  terminationGracePeriodSeconds: 1
  containers:
    - name: live
      image: ${IMAGE}
      command: ["sh", "-c", "echo run >> /runs; touch /tmp/healthy; exec sleep 1000"]
      livenessProbe:
        exec:
          command: ["cat", "/tmp/healthy"]
        periodSeconds: 1
        failureThreshold: 2
    - name: web
      image: ${IMAGE}
      command: ["sh", "-c", "mkdir -p /www; exec httpd -f -p 8080 -h /www"]
      ports:
        - name: http
          containerPort: 8080
      readinessProbe:
        httpGet:
          path: /ready
          port: http
        periodSeconds: 1
        failureThreshold: 1
    - name: tcp
      image: ${IMAGE}
      command: ["sh", "-c", "while [ ! -f /tmp/listen ]; do sleep 0.2; done; mkdir -p /w; exec httpd -f -p 9000 -h /w"]
      readinessProbe:
        tcpSocket:
          port: 9000
        periodSeconds: 1
`,
    );
    expect(await ok(d, ['run-pod', '-f', file])).toMatch(/^probed [0-9a-f]{64}\n$/);
    const first = await pod('probed');
    expect(first.state).toBe('Running');

    // Readiness: httpd answers 404 for /ready (not ready) until the file exists; the tcp
    // container listens only once told to. The pod is not Ready meanwhile.
    await until(async () => (await container('probed', 'live')).ready, show('probed'));
    let p = await pod('probed');
    expect(p.containers.map((c) => [c.name, c.ready])).toEqual([
      ['live', true],
      ['web', false],
      ['tcp', false],
    ]);
    expect(p.ready).toBe(false);
    expect(p.conditions).toEqual([
      { type: 'ContainersReady', status: 'False' },
      { type: 'Ready', status: 'False' },
    ]);
    expect(await ok(d, ['list'])).toMatch(/^[0-9a-f]{12}\s+probed\s+Running\s+[0-9a-f]{12}\s+1\/3\s+0\s/m);

    await ok(d, ['exec', '-c', 'web', 'probed', 'touch', '/www/ready']);
    await until(async () => (await container('probed', 'web')).ready, show('probed'));
    await ok(d, ['exec', '-c', 'tcp', 'probed', 'touch', '/tmp/listen']);
    await until(async () => (await pod('probed')).ready, show('probed'));
    p = await pod('probed');
    expect(p.conditions).toEqual([
      { type: 'ContainersReady', status: 'True' },
      { type: 'Ready', status: 'True' },
    ]);
    expect(await ok(d, ['list'])).toMatch(/^[0-9a-f]{12}\s+probed\s+Running\s+[0-9a-f]{12}\s+3\/3\s+0\s/m);
    // And back: a failing readiness probe makes it unready, and kills nothing.
    await ok(d, ['exec', '-c', 'web', 'probed', 'rm', '/www/ready']);
    await until(async () => !(await container('probed', 'web')).ready, show('probed'));
    expect((await pod('probed')).ready).toBe(false);
    expect(await container('probed', 'web')).toMatchObject({ status: 'running', restartCount: 0 });

    // Liveness: the probed file goes, the probe fails twice, the container is killed and runs
    // again in place (its command appended a second line to the same rootfs), alone.
    await ok(d, ['exec', '-c', 'live', 'probed', 'rm', '/tmp/healthy']);
    await until(
      async () =>
        (await container('probed', 'live')).restartCount === 1 &&
        (await container('probed', 'live')).status === 'running',
      show('probed'),
    );
    p = await pod('probed');
    expect(p.vm).toBe(first.vm);
    expect(p.containers.map((c) => [c.name, c.status, c.restartCount])).toEqual([
      ['live', 'running', 1],
      ['web', 'running', 0],
      ['tcp', 'running', 0],
    ]);
    expect(await ok(d, ['exec', '-c', 'live', 'probed', 'cat', '/runs'])).toBe('run\nrun\n');
    // Its new run is healthy again (it touched the file): no further restart.
    await new Promise((r) => setTimeout(r, 5000));
    expect((await container('probed', 'live')).restartCount).toBe(1);
    expect(await ok(d, ['list', 'containers'])).toMatch(
      /^[0-9a-f]{12}\s+probed\s+\S+\s+"sh -c echo run[^"]*"\s+running\s+true\s+1$/m,
    );
    // The docker CLI counts the restart too (the main container is the pod's).
    expect((await dockerCli(d, ['inspect', '--format', '{{.RestartCount}}', 'probed'])).out.trim()).toBe('1');
    await ok(d, ['rm', '-f', 'probed']);
  });

  test('a startup probe holds liveness off until it succeeds; one that never succeeds has its container restarted', async () => {
    const file = path.join(dir, 'startup.yaml');
    fs.writeFileSync(
      file,
      `apiVersion: v1
kind: Pod
metadata:
  name: booting
spec:
  terminationGracePeriodSeconds: 1
  containers:
    - name: slow
      image: ${IMAGE}
      command: ["sh", "-c", "while [ ! -f /tmp/go ]; do sleep 0.2; done; touch /tmp/started; exec sleep 1000"]
      startupProbe:
        exec:
          command: ["test", "-f", "/tmp/started"]
        periodSeconds: 1
        failureThreshold: 1000
      livenessProbe:
        exec:
          command: ["test", "-f", "/tmp/started"]
        periodSeconds: 1
        failureThreshold: 1
    - name: never
      image: ${IMAGE}
      command: ["sleep", "1000"]
      startupProbe:
        exec:
          command: ["test", "-f", "/nonexistent"]
        periodSeconds: 1
        failureThreshold: 2
`,
    );
    await ok(d, ['run-pod', '-f', file]);
    // Its liveness probe would fail at once: only the startup probe holds it off.
    await new Promise((r) => setTimeout(r, 8000));
    expect(await container('booting', 'slow')).toMatchObject({
      status: 'running',
      started: false,
      ready: false,
      restartCount: 0,
    });
    await ok(d, ['exec', '-c', 'slow', 'booting', 'touch', '/tmp/go']);
    await until(async () => (await container('booting', 'slow')).started, show('booting'));
    expect(await container('booting', 'slow')).toMatchObject({
      status: 'running',
      started: true,
      ready: true,
      restartCount: 0,
    });
    // The other one's startup probe fails every time: killed after two failures, restarted.
    await until(async () => (await container('booting', 'never')).restartCount >= 1, show('booting'));
    expect((await container('booting', 'never')).started).toBe(false);
    expect((await container('booting', 'slow')).restartCount).toBe(0);
    await ok(d, ['rm', '-f', 'booting']);
  });

  test('in a pod of one container a tcpSocket liveness probe on a port nothing listens on restarts it in place, on the same VM', async () => {
    const file = path.join(dir, 'solo.yaml');
    fs.writeFileSync(
      file,
      `apiVersion: v1
kind: Pod
metadata:
  name: solo
spec:
  terminationGracePeriodSeconds: 1
  containers:
    - name: only
      image: ${IMAGE}
      command: ["sh", "-c", "echo run; exec sleep 1000"]
      livenessProbe:
        tcpSocket:
          port: 9999
        initialDelaySeconds: 1
        periodSeconds: 1
        failureThreshold: 1
`,
    );
    await ok(d, ['run-pod', '-f', file]);
    const vm = (await pod('solo')).vm;
    await until(async () => (await container('solo', 'only')).restartCount >= 2, show('solo'));
    expect((await pod('solo')).vm).toBe(vm);
    // One container, run again and again: its log holds each run's line.
    expect((await ok(d, ['logs', 'solo'])).split('\n').filter((l) => l === 'run').length).toBeGreaterThanOrEqual(3);
    await ok(d, ['rm', '-f', 'solo']);
  });
});
