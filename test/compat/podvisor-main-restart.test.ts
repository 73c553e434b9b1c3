/**
 * Kubernetes restart semantics of a pod of several containers on real VMs, as a user sees them
 * through the `podvisor` CLI and the stock docker CLI: under `restartPolicy: Always` the main
 * (first) container that exits is restarted in place, alone: the other container keeps
 * running (same PID, same start time, the file it wrote in the shared emptyDir still there),
 * the main container runs again in the same VM and its restart count grows; and `docker events
 * --filter container=POD.CONTAINER` shows a non-main container's own die and start. A daemon
 * killed with SIGKILL re-adopts such a pod and its restarts in place go on.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import { startDaemon, stopDaemonLeavingNothing, type TestDaemon } from '../helpers/daemon';
import { dockerOk } from '../helpers/docker-cli';
import { fixtureRegistry } from '../fixtures/registry';
import { podvisor, podvisorOk } from '../helpers/podvisor-cli';

jest.setTimeout(300000);

const REG = fixtureRegistry();
const IMAGE = `${REG}/busybox`;
const ok = podvisorOk;

/** Poll `f` until it returns true (or fail after a generous `ms`, saying what `seen` shows then). */
async function until(
  f: () => Promise<boolean> | boolean,
  seen: () => Promise<string> | string = () => '',
  ms = 120000,
): Promise<void> {
  const end = Date.now() + ms;
  while (!(await f())) {
    if (Date.now() > end) throw new Error(`condition not met in time; last seen: ${await seen()}`);
    await new Promise((r) => setTimeout(r, 300));
  }
}

/** A pod file of two app containers sharing an emptyDir under `policy`. */
function podFile(name: string, policy: string, main: string, side: string): string {
  const mount = `      volumeMounts:\n        - name: cache\n          mountPath: /cache\n`;
  return `apiVersion: v1\nkind: Pod\nmetadata:\n  name: ${name}\nspec:\n  restartPolicy: ${policy}\n  terminationGracePeriodSeconds: 1\n  volumes:\n    - name: cache\n      emptyDir: {}\n  containers:\n    - name: app\n      image: ${IMAGE}\n      command: ["sh", "-c", ${JSON.stringify(main)}]\n${mount}    - name: side\n      image: ${IMAGE}\n      command: ["sh", "-c", ${JSON.stringify(side)}]\n${mount}`;
}

type Row = {
  name: string;
  state: string;
  vm: string;
  containers: Array<{ name: string; status: string; exitCode: number; restartCount: number }>;
};

describe("a pod's main container restarts in place", () => {
  let d: TestDaemon;
  let dir: string;
  const watchers: ChildProcess[] = [];
  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'main-restart-'));
    d = await startDaemon({ vmPoolSize: 0 });
    await ok(d, ['pull', IMAGE]);
  });
  afterAll(async () => {
    for (const w of watchers) w.kill('SIGKILL');
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
    if (!d) return;
    for (const p of JSON.parse((await podvisor(d, ['list', '--json'])).out || '[]') as Array<{ id: string }>)
      await podvisor(d, ['rm', '-f', p.id]);
    await stopDaemonLeavingNothing(d);
  });

  const pod = async (name: string) =>
    (JSON.parse(await ok(d, ['list', '--json'])) as Row[]).find((p) => p.name === name) as Row;

  test('under Always the main container exits and runs again in place; the sidecar and its emptyDir file are untouched', async () => {
    const file = path.join(dir, 'always.yaml');
    fs.writeFileSync(
      file,
      podFile(
        'alw',
        'Always',
        'echo run >> /cache/app-runs; echo app-up; sleep 1; exit 3',
        'echo side-data > /cache/side; sleep 1000',
      ),
    );
    await ok(d, ['run-pod', '-f', file]);
    await until(
      async () => (await pod('alw')).containers.find((c) => c.name === 'side')?.status === 'running',
      async () => JSON.stringify(await pod('alw')),
    );
    await until(() => dockerOk(d, ['exec', 'alw.side', 'cat', '/cache/side']) === 'side-data');
    const vm = (await pod('alw')).vm;
    const side = () =>
      dockerOk(d, ['inspect', '--format', '{{.State.Pid}} {{.State.StartedAt}} {{.RestartCount}}', 'alw.side']).trim();
    const sideBefore = side();
    // The main container exits 3 every second or so: wait for two restarts in place.
    const mainState = () =>
      dockerOk(d, ['inspect', '--format', '{{.State.Status}} {{.State.ExitCode}} {{.RestartCount}}', 'alw']).trim();
    await until(() => Number(mainState().split(' ')[2]) >= 2, mainState);
    // It ran again each time in the same container and VM: its emptyDir holds every run's line.
    const runs = () => dockerOk(d, ['exec', 'alw.side', 'sh', '-c', 'wc -l < /cache/app-runs']).trim();
    await until(() => Number(runs()) >= 3, runs);
    const now = await pod('alw');
    expect(now.vm).toBe(vm);
    expect(now.state).toBe('Running');
    expect(now.containers.find((c) => c.name === 'app')?.restartCount).toBeGreaterThanOrEqual(2);
    // The sidecar was never touched: same process, same start, no restart, its file still there.
    expect(side()).toBe(sideBefore);
    expect(sideBefore.endsWith(' 0')).toBe(true);
    expect(dockerOk(d, ['exec', 'alw.side', 'cat', '/cache/side'])).toBe('side-data');
    // docker inspect of the main container: its last exit code is seen while it waits or once
    // it exited again (Restarting (3) / Exited (3) / Up).
    await until(() => /^(restarting|exited) 3 /.test(mainState()), mainState);
    // Its log holds every run's output.
    expect(
      (await ok(d, ['logs', '-c', 'app', 'alw'])).split('\n').filter((l) => l === 'app-up').length,
    ).toBeGreaterThanOrEqual(3);
    await ok(d, ['stop', 'alw']);
    expect((await pod('alw')).state).toBe('Created');
    await ok(d, ['rm', '-f', 'alw']);
  });

  test('while the main container waits for its restart, docker shows it restarting; a stop cancels the restart and keeps its exit code', async () => {
    const file = path.join(dir, 'loop.yaml');
    fs.writeFileSync(file, podFile('loop', 'Always', 'exit 3', 'sleep 1000'));
    await ok(d, ['run-pod', '-f', file]);
    const state = () =>
      dockerOk(d, [
        'inspect',
        '--format',
        '{{.State.Status}} {{.State.Running}} {{.State.Restarting}} {{.State.ExitCode}} {{.RestartCount}}',
        'loop',
      ]).trim();
    // It exits at once each time and its back-off doubles: after 5 restarts it waits 3.2 s
    // and more, so it is caught waiting, and stays so for the checks below.
    await until(() => /^restarting true true 3 ([5-9]|\d\d)$/.test(state()), state);
    await until(() =>
      /^Restarting \(3\)/.test(dockerOk(d, ['ps', '--filter', 'name=^loop$', '--format', '{{.Status}}'])),
    );
    expect(dockerOk(d, ['inspect', '--format', '{{.State.Status}}', 'loop.side'])).toBe('running');
    expect((await pod('loop')).state).toBe('Running');
    // A stop through any of its containers stops the pod; the pending restart does not happen.
    dockerOk(d, ['stop', 'loop.side']);
    expect(state()).toMatch(/^exited false false 3 /);
    expect(dockerOk(d, ['wait', 'loop'])).toBe('3');
    expect((await pod('loop')).state).toBe('Created');
    await ok(d, ['rm', '-f', 'loop']);
  });

  test('a daemon killed with SIGKILL and restarted re-adopts the pod: the main container goes on restarting in place, the sidecar untouched', async () => {
    const file = path.join(dir, 'kill9.yaml');
    fs.writeFileSync(
      file,
      podFile(
        'k9',
        'Always',
        'echo run >> /cache/app-runs; sleep 1; exit 3',
        'echo side-data > /cache/side; sleep 1000',
      ),
    );
    await ok(d, ['run-pod', '-f', file]);
    const count = () => Number(dockerOk(d, ['inspect', '--format', '{{.RestartCount}}', 'k9']).trim());
    await until(() => count() >= 1);
    const side = () =>
      dockerOk(d, ['inspect', '--format', '{{.State.Pid}} {{.State.StartedAt}} {{.RestartCount}}', 'k9.side']).trim();
    const sideBefore = side();
    const vm = (await pod('k9')).vm;
    await d.kill9();
    await d.restart();
    const before = count();
    await until(
      () => count() >= before + 2,
      () => String(count()),
    );
    expect((await pod('k9')).vm).toBe(vm);
    expect(side()).toBe(sideBefore);
    expect(dockerOk(d, ['exec', 'k9.side', 'cat', '/cache/side'])).toBe('side-data');
    await ok(d, ['rm', '-f', 'k9']);
  });

  test("docker events --filter container=POD.CONTAINER shows that container's own die and start", async () => {
    let lines = '';
    const w = spawn(
      'docker',
      [
        'events',
        '--filter',
        'container=evp.side',
        '--format',
        '{{.Action}} {{.Actor.Attributes.name}} {{index .Actor.Attributes "exitCode"}}',
      ],
      { env: d.env, stdio: ['ignore', 'pipe', 'ignore'] },
    );
    watchers.push(w);
    w.stdout?.on('data', (c: Buffer) => (lines += c.toString()));
    // The events stream is open once the CLI connected: wait for its subscriber to show up.
    await until(() => Number(dockerOk(d, ['info', '--format', '{{.NEventsListener}}']).trim()) >= 1);
    const file = path.join(dir, 'events.yaml');
    fs.writeFileSync(file, podFile('evp', 'OnFailure', 'sleep 1000', 'sleep 1; exit 5'));
    await ok(d, ['run-pod', '-f', file]);
    await until(() => /^die evp\.side 5\n^start evp\.side/m.test(lines));
    const seen = lines.split('\n').filter(Boolean);
    expect(seen[0]).toMatch(/^create evp\.side/);
    expect(seen).toContain('start evp.side ');
    // Only that container's: nothing of the main container (evp) came through the filter.
    expect(seen.every((l) => l.split(' ')[1] === 'evp.side')).toBe(true);
    // docker wait of that container answers its own exit (5), while the pod runs on.
    expect(dockerOk(d, ['wait', 'evp.side'])).toBe('5');
    expect(dockerOk(d, ['inspect', '--format', '{{.State.Status}}', 'evp'])).toBe('running');
    await ok(d, ['rm', '-f', 'evp']);
    await until(() => lines.includes('destroy evp.side'));
    w.kill('SIGKILL');
  });
});
