/**
 * Pod files through the `podvisor` CLI on real VMs: a Kubernetes Pod in YAML (an init
 * container, two app containers sharing an emptyDir) and a hyper podfile in JSON run with
 * `run-pod -f`; `logs -c` and `exec -c` reach each container, and the stock docker CLI sees
 * each as a container of its own (ps, logs, exec, inspect, stop); `replace -f` swaps a YAML
 * pod in; a kept VM's emptyDirs are empty for the next pod; OnFailure restarts one container
 * in place; a failing init container fails the start; a bad file is refused by field (a bad
 * probe value with Kubernetes' own validation error); resources.requests size the VM.
 * PostgreSQL (the official-like fixture) and a busybox sidecar in one pod, each on disks of its
 * own: 1,000 rows kept across a stop and a start, reached from the sidecar over localhost.
 * Probes: ./podvisor-probes.test.ts.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { startDaemon, stopDaemonLeavingNothing, type TestDaemon } from '../helpers/daemon';
import { dockerCli } from '../helpers/docker-cli';
import { fixtureRegistry } from '../fixtures/registry';
import { podvisor, podvisorOk } from '../helpers/podvisor-cli';

jest.setTimeout(240000);

const REG = fixtureRegistry();
const IMAGE = `${REG}/busybox`;
const ok = podvisorOk;

/** Poll `f` until it returns true (or fail after `ms`). */
async function until(f: () => Promise<boolean>, ms = 30000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await f())) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 300));
  }
}

const KUBE_POD = `apiVersion: v1
kind: Pod
metadata:
  name: kpod
  labels:
    app: demo
spec:
  terminationGracePeriodSeconds: 2
  volumes:
    - name: shared
      emptyDir: {}
  initContainers:
    - name: seed
      image: ${IMAGE}
      command: ["sh", "-c", "echo seeded > /data/seed"]
      volumeMounts:
        - name: shared
          mountPath: /data
  containers:
    - name: writer
      image: ${IMAGE}
      command: ["sh", "-c", "cat /data/seed; echo from-writer > /data/msg; httpd -p 8080 -h /data; echo writer-up; sleep 1000"]
      volumeMounts:
        - name: shared
          mountPath: /data
    - name: reader
      image: ${IMAGE}
      command: ["sh", "-c", "while [ ! -f /data/msg ]; do sleep 0.2; done; echo reader-got $(cat /data/msg); sleep 1000"]
      volumeMounts:
        - name: shared
          mountPath: /data
`;

const HYPER_POD = {
  id: 'hpod',
  containers: [{ name: 'main', image: IMAGE, command: ['sh', '-c', 'echo hyper-up; sleep 1000'] }],
  resource: { vcpu: 1, memory: 256 },
};

describe('pod files through the podvisor CLI', () => {
  let d: TestDaemon;
  let dir: string;
  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'podfiles-'));
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

  test('a Kubernetes Pod YAML with an init container and two app containers sharing an emptyDir runs', async () => {
    const file = path.join(dir, 'pod.yaml');
    fs.writeFileSync(file, KUBE_POD);
    expect(await ok(d, ['run-pod', '-f', file])).toMatch(/^kpod [0-9a-f]{64}\n$/);
    await until(async () => (await ok(d, ['logs', '-c', 'reader', 'kpod'])).includes('reader-got'));
    expect(await ok(d, ['logs', '-c', 'reader', 'kpod'])).toBe('reader-got from-writer\n');
    expect(await ok(d, ['logs', '-c', 'writer', 'kpod'])).toBe('seeded\nwriter-up\n');
    // Without -c: the main container (the first app container).
    expect(await ok(d, ['logs', 'kpod'])).toBe('seeded\nwriter-up\n');
    expect(await ok(d, ['exec', '-c', 'reader', 'kpod', 'cat', '/data/seed'])).toBe('seeded\n');
    // The writer serves the shared directory over the pod's localhost; the reader fetches it.
    expect(await ok(d, ['exec', '-c', 'reader', 'kpod', 'wget', '-qO-', 'http://127.0.0.1:8080/msg'])).toBe(
      'from-writer\n',
    );
    // Each container writes its layer to a disk of its own and reads its image from the image's
    // disk, both hot-plugged on the VM's SCSI controller: its root an overlay over the image's
    // disk; the VM's SCSI disks are its own image disk's slot and two per container (the init
    // container's stay until the pod's VM goes).
    for (const c of ['writer', 'reader'])
      expect(await ok(d, ['exec', '-c', c, 'kpod', 'cat', '/proc/mounts'])).toMatch(
        /^overlay \/ overlay .*lowerdir=[^,]*\/image/m,
      );
    await ok(d, ['exec', '-c', 'writer', 'kpod', 'sh', '-c', 'echo mine > /own']);
    expect((await podvisor(d, ['exec', '-c', 'reader', 'kpod', 'cat', '/own'])).code).not.toBe(0);
    const scsi = (await ok(d, ['exec', '-c', 'reader', 'kpod', 'ls', '/sys/block'])).split(/\s+/);
    expect(scsi.filter((n) => n.startsWith('sd')).length).toBe(7);
    const miss = await podvisor(d, ['logs', '-c', 'nope', 'kpod']);
    expect(miss.code).toBe(4);
    expect(miss.err).toMatch(/nope/);

    const pod = JSON.parse(await ok(d, ['list', '--json'])).find((p: { name: string }) => p.name === 'kpod');
    expect(pod.containers.map((c: { name: string; init?: boolean }) => `${c.name}${c.init ? ':init' : ''}`)).toEqual([
      'seed:init',
      'writer',
      'reader',
    ]);
    expect(pod.labels).toMatchObject({ app: 'demo', 'io.podvisor.pod': 'kpod', 'io.podvisor.api': 'native' });

    // The stock docker CLI sees each container of the pod as a container: the main one under
    // the pod's name, the others as POD.CONTAINER, each labelled with its pod and its name.
    const ps = await dockerCli(d, [
      'ps',
      '--filter',
      'label=io.podvisor.pod=kpod',
      '--format',
      '{{.Names}} {{.Label "io.podvisor.container"}} {{.Image}} {{.Status}}',
    ]);
    expect(ps.code).toBe(0);
    expect(ps.out.trim().split('\n').sort()).toEqual([
      expect.stringMatching(new RegExp(`^kpod writer ${IMAGE.replace(/[.]/g, '\\.')} Up `)),
      expect.stringMatching(new RegExp(`^kpod\\.reader reader ${IMAGE.replace(/[.]/g, '\\.')} Up `)),
    ]);
    const all = await dockerCli(d, [
      'ps',
      '-a',
      '--filter',
      'label=io.podvisor.pod=kpod',
      '--format',
      '{{.Names}} {{.Status}}',
    ]);
    expect(all.out).toMatch(/^kpod\.seed Exited \(0\) /m);
    const readerId = (await dockerCli(d, ['ps', '-q', '--no-trunc', '--filter', 'name=kpod.reader'])).out.trim();
    expect(readerId).toMatch(/^[0-9a-f]{64}$/);
    expect((await dockerCli(d, ['logs', 'kpod.reader'])).out).toBe('reader-got from-writer\n');
    expect((await dockerCli(d, ['logs', readerId.slice(0, 12)])).out).toBe('reader-got from-writer\n');
    expect(
      (await dockerCli(d, ['exec', 'kpod.reader', 'sh', '-c', 'cat /data/msg; ps -o args | grep -c "^sleep 1000"']))
        .out,
    ).toBe('from-writer\n2\n');
    const readerInspect = await dockerCli(d, [
      'inspect',
      '--format',
      '{{.Id}} {{.Name}} {{.State.Running}} {{json .Config.Cmd}} {{index .Config.Labels "io.podvisor.pod"}}',
      'kpod.reader',
    ]);
    expect(readerInspect.out).toMatch(new RegExp(`^${readerId} /kpod\\.reader true \\["-c","while .*"\\] kpod\n$`));
    const inspect = await dockerCli(d, [
      'inspect',
      '--format',
      '{{.Name}} {{.State.Running}} {{index .Config.Labels "io.podvisor.api"}} {{json .Config.Cmd}}',
      'kpod',
    ]);
    expect(inspect.code).toBe(0);
    expect(inspect.out).toContain('/kpod true native');
    expect((await dockerCli(d, ['exec', 'kpod', 'cat', '/data/msg'])).out).toBe('from-writer\n');
    // Stopping any container of the pod stops the pod (its containers share one VM).
    expect((await dockerCli(d, ['stop', '-t', '1', 'kpod.reader'])).code).toBe(0);
    expect(await ok(d, ['list', '--json'])).toContain('"state": "Created"');
    expect((await dockerCli(d, ['ps', '-q', '--filter', 'label=io.podvisor.pod=kpod'])).out).toBe('');
    // Started again (a new VM): each container's layer is on its disk file, kept.
    await ok(d, ['start', 'kpod']);
    expect(await ok(d, ['exec', '-c', 'writer', 'kpod', 'cat', '/own'])).toBe('mine\n');
    expect((await podvisor(d, ['exec', '-c', 'reader', 'kpod', 'cat', '/own'])).code).not.toBe(0);
    await ok(d, ['stop', '-t', '0', 'kpod']);
  });

  test('a hyper podfile (JSON) runs, and replace -f swaps in a YAML pod on its VM', async () => {
    const file = path.join(dir, 'pod.json');
    fs.writeFileSync(file, JSON.stringify(HYPER_POD));
    expect(await ok(d, ['run-pod', '-f', file])).toMatch(/^hpod [0-9a-f]{64}\n$/);
    await until(async () => (await ok(d, ['logs', '-c', 'main', 'hpod'])) === 'hyper-up\n');
    const ps = await dockerCli(d, ['ps', '--filter', 'label=io.podvisor.pod=hpod', '--format', '{{.Names}}']);
    expect(ps.out).toBe('hpod\n');

    const next = path.join(dir, 'next.yml');
    fs.writeFileSync(
      next,
      `apiVersion: v1\nkind: Pod\nmetadata:\n  name: npod\nspec:\n  containers:\n    - name: only\n      image: ${IMAGE}\n      command: ["sh", "-c", "echo next-up; sleep 1000"]\n`,
    );
    expect(await ok(d, ['replace', '-o', 'hpod', '-t', '0', '-f', next])).toMatch(
      /^npod running on VM [0-9a-f]+ \(replaced hpod\)\n$/,
    );
    await until(async () => (await ok(d, ['logs', 'npod'])) === 'next-up\n');
  });

  test('a kept VM starts clean: the next pod naming the same emptyDir finds it empty, and nothing else of the old pod', async () => {
    // The first pod's hostname comes from its pod file: a privileged pod (which `hostname` in the
    // container would need) never hands its VM on (src/pod/lifecycle/guest-altering.ts).
    const podFile = (name: string, command: string, hostname?: string) =>
      `apiVersion: v1\nkind: Pod\nmetadata:\n  name: ${name}\nspec:\n${hostname ? `  hostname: ${hostname}\n` : ''}  volumes:\n    - name: cache\n      emptyDir: {}\n  containers:\n    - name: main\n      image: ${IMAGE}\n      command: ["sh", "-c", ${JSON.stringify(command)}]\n      volumeMounts:\n        - name: cache\n          mountPath: /cache\n    - name: side\n      image: ${IMAGE}\n      command: ["sleep", "1000"]\n      volumeMounts:\n        - name: cache\n          mountPath: /cache\n`;
    const first = path.join(dir, 'first.yaml');
    fs.writeFileSync(
      first,
      podFile(
        'dirty',
        'echo secret > /cache/left; mkdir -p /cache/sub/deeper; echo x > /cache/sub/deeper/f; echo t > /tmp/left; sleep 4343 & echo ready; sleep 1000',
        'dirty-host',
      ),
    );
    await ok(d, ['run-pod', '-f', first]);
    await until(async () => (await ok(d, ['logs', 'dirty'])) === 'ready\n');
    expect(await ok(d, ['exec', '-c', 'side', 'dirty', 'cat', '/cache/left'])).toBe('secret\n');
    expect(await ok(d, ['exec', 'dirty', 'hostname'])).toBe('dirty-host\n');
    const vm = (JSON.parse(await ok(d, ['list', '--json'])) as Array<{ name: string; vm: string }>).find(
      (p) => p.name === 'dirty',
    )?.vm as string;
    expect(vm).toMatch(/^[0-9a-f]{12}$/);
    expect(await ok(d, ['stop', '--keep-vm', '-t', '0', 'dirty'])).toBe(`dirty stopped; VM ${vm} is Idle\n`);

    const second = path.join(dir, 'second.yaml');
    fs.writeFileSync(second, podFile('clean', 'echo up; sleep 1000'));
    await ok(d, ['run-pod', '--vm', vm, '-f', second]);
    const pods = JSON.parse(await ok(d, ['list', '--json'])) as Array<{ name: string; vm: string }>;
    expect(pods.find((p) => p.name === 'clean')?.vm).toBe(vm);
    expect(await ok(d, ['exec', 'clean', 'ls', '-A', '/cache'])).toBe('');
    expect(await ok(d, ['exec', '-c', 'side', 'clean', 'ls', '-A', '/cache'])).toBe('');
    const look = await ok(d, ['exec', 'clean', 'sh', '-c', 'hostname; ls -A /tmp; ps -o args; cat /proc/mounts']);
    expect(look).not.toContain('dirty-host');
    expect(look).not.toContain('left');
    expect(look).not.toContain('sleep 4343');
    // The old pod's disks were unplugged: the VM's own image disk's slot and the new pod's two
    // pairs (the guest drops an unplugged disk a moment after QEMU: polled).
    const scsiDisks = async () =>
      (await ok(d, ['exec', 'clean', 'ls', '/sys/block'])).split(/\s+/).filter((n) => n.startsWith('sd')).length;
    let scsi = await scsiDisks();
    for (const end = Date.now() + 20_000; scsi !== 5 && Date.now() < end; scsi = await scsiDisks())
      await new Promise((r) => setTimeout(r, 200));
    expect(scsi).toBe(5);
    // What a new pod writes there is its own, and the same clean-up holds for replace.
    await ok(d, ['exec', 'clean', 'sh', '-c', 'echo again > /cache/again']);
    const third = path.join(dir, 'third.yaml');
    fs.writeFileSync(third, podFile('third', 'ls -A /cache; echo listed; sleep 1000'));
    expect(await ok(d, ['replace', '-o', 'clean', '-t', '0', '-f', third])).toBe(
      `third running on VM ${vm} (replaced clean)\n`,
    );
    await until(async () => (await ok(d, ['logs', 'third'])).includes('listed'));
    expect(await ok(d, ['logs', 'third'])).toBe('listed\n');
    await ok(d, ['rm', '-f', 'dirty', 'clean', 'third']);
  });

  test('OnFailure restarts a failing container in place, alone: its emptyDir stays, the main container runs on', async () => {
    const file = path.join(dir, 'restart.yaml');
    fs.writeFileSync(
      file,
      `apiVersion: v1\nkind: Pod\nmetadata:\n  name: flaky\nspec:\n  restartPolicy: OnFailure\n  volumes:\n    - name: cache\n      emptyDir: {}\n  containers:\n    - name: main\n      image: ${IMAGE}\n      command: ["sh", "-c", "echo main-up; sleep 1000"]\n      volumeMounts:\n        - name: cache\n          mountPath: /cache\n    - name: failing\n      image: ${IMAGE}\n      command: ["sh", "-c", "echo try; echo x >> /cache/runs; exit 3"]\n      volumeMounts:\n        - name: cache\n          mountPath: /cache\n    - name: done\n      image: ${IMAGE}\n      command: ["sh", "-c", "echo ok"]\n`,
    );
    await ok(d, ['run-pod', '-f', file]);
    type Row = {
      name: string;
      vm: string;
      containers: Array<{ name: string; status: string; exitCode: number; restartCount: number }>;
    };
    const pod = async () =>
      (JSON.parse(await ok(d, ['list', '--json'])) as Row[]).find((p) => p.name === 'flaky') as Row;
    const vm = (await pod()).vm;
    await until(async () => ((await pod()).containers.find((c) => c.name === 'failing')?.restartCount ?? 0) >= 3);
    const now = await pod();
    expect(now.vm).toBe(vm);
    expect(now.containers.find((c) => c.name === 'main')).toMatchObject({ status: 'running', restartCount: 0 });
    expect(now.containers.find((c) => c.name === 'done')).toMatchObject({
      status: 'exited',
      exitCode: 0,
      restartCount: 0,
    });
    // The main container was never started again; the failing one ran each time in the same
    // container (its emptyDir kept every run's line), its log holding every run's output.
    expect(await ok(d, ['logs', '-c', 'main', 'flaky'])).toBe('main-up\n');
    expect(Number((await ok(d, ['exec', 'flaky', 'sh', '-c', 'wc -l < /cache/runs'])).trim())).toBeGreaterThanOrEqual(
      4,
    );
    expect(
      (await ok(d, ['logs', '-c', 'failing', 'flaky'])).split('\n').filter((l) => l === 'try').length,
    ).toBeGreaterThanOrEqual(4);
    const inspect = await dockerCli(d, ['inspect', '--format', '{{.RestartCount}}', 'flaky.failing']);
    expect(Number(inspect.out.trim())).toBeGreaterThanOrEqual(3);
    await ok(d, ['rm', '-f', 'flaky']);
  });

  test('a failing init container fails the start with its exit code and output; the ones before it ran in order', async () => {
    const file = path.join(dir, 'initfail.yaml');
    fs.writeFileSync(
      file,
      `apiVersion: v1\nkind: Pod\nmetadata:\n  name: badinit\nspec:\n  volumes:\n    - name: w\n      emptyDir: {}\n  initContainers:\n    - name: first\n      image: ${IMAGE}\n      command: ["sh", "-c", "echo first-ran > /w/order"]\n      volumeMounts:\n        - name: w\n          mountPath: /w\n    - name: second\n      image: ${IMAGE}\n      command: ["sh", "-c", "cat /w/order; echo failing-init; exit 4"]\n      volumeMounts:\n        - name: w\n          mountPath: /w\n  containers:\n    - name: app\n      image: ${IMAGE}\n      command: ["sh", "-c", "echo app-ran; sleep 1000"]\n`,
    );
    const r = await podvisor(d, ['run-pod', '-f', file]);
    expect(r.code).not.toBe(0);
    expect(r.err).toMatch(/init container second failed with exit code 4: first-ran \/ failing-init/);
    const pod = (
      JSON.parse(await ok(d, ['list', '--json'])) as Array<{
        name: string;
        state: string;
        containers: Array<{ name: string; status: string; exitCode: number }>;
      }>
    ).find((p) => p.name === 'badinit');
    expect(pod?.state).toBe('Created');
    expect(pod?.containers.find((c) => c.name === 'second')).toMatchObject({ exitCode: 4 });
    expect(await ok(d, ['logs', '-c', 'app', 'badinit'])).toBe('');
    await ok(d, ['rm', 'badinit']);
  });

  test('PostgreSQL and a busybox sidecar in one pod: each on its own image disk and layer disk, the sidecar reaching the database over the pod localhost', async () => {
    const pg = `${REG}/debian-postgres:15`;
    await ok(d, ['pull', pg]);
    const file = path.join(dir, 'pg.yaml');
    fs.writeFileSync(
      file,
      `apiVersion: v1\nkind: Pod\nmetadata:\n  name: pgpod\nspec:\n  terminationGracePeriodSeconds: 5\n  containers:\n    - name: db\n      image: ${pg}\n      env:\n        - name: POSTGRES_PASSWORD\n          value: secret\n    - name: side\n      image: ${IMAGE}\n      command: ["sleep", "1000"]\n`,
    );
    await ok(d, ['run-pod', '-f', file]);
    try {
      await until(
        async () =>
          (await podvisor(d, ['exec', '-c', 'db', 'pgpod', 'pg_isready', '-q', '-h', '127.0.0.1'])).code === 0,
        240_000,
      );
      const sql = 'CREATE TABLE t (v int); INSERT INTO t SELECT generate_series(1, 1000); SELECT count(*) FROM t;';
      const q = await ok(d, ['exec', '-c', 'db', 'pgpod', 'su', 'postgres', '-c', `psql -At -h 127.0.0.1 -c '${sql}'`]);
      expect(q.trim().split('\n').pop()).toBe('1000');
      // The busybox sidecar reaches it over the pod's localhost, and reads busybox, not PostgreSQL.
      // (PostgreSQL's SSLRequest: a server without TLS answers "N".)
      const probe = "printf '\\0\\0\\0\\10\\4\\322\\26\\57' | timeout 5 nc 127.0.0.1 5432 | head -c 1";
      expect(await ok(d, ['exec', '-c', 'side', 'pgpod', 'sh', '-c', probe])).toBe('N');
      expect((await podvisor(d, ['exec', '-c', 'side', 'pgpod', 'ls', '/usr/lib/postgresql'])).code).not.toBe(0);
      for (const c of ['db', 'side'])
        expect(await ok(d, ['exec', '-c', c, 'pgpod', 'cat', '/proc/mounts'])).toMatch(
          /^overlay \/ overlay .*lowerdir=[^,]*\/image/m,
        );
      // Its data survives a stop and a start onto a new VM (on the db container's own disk).
      await ok(d, ['stop', '-t', '5', 'pgpod']);
      await ok(d, ['start', 'pgpod']);
      await until(
        async () =>
          (await podvisor(d, ['exec', '-c', 'db', 'pgpod', 'pg_isready', '-q', '-h', '127.0.0.1'])).code === 0,
        240_000,
      );
      const again = await ok(d, [
        'exec',
        '-c',
        'db',
        'pgpod',
        'su',
        'postgres',
        '-c',
        "psql -At -h 127.0.0.1 -c 'SELECT count(*) FROM t'",
      ]);
      expect(again.trim()).toBe('1000');
    } finally {
      await podvisor(d, ['rm', '-f', 'pgpod']);
    }
  });

  test("resources.requests size the pod's VM where no limit is given; a limit wins where there is one", async () => {
    const file = path.join(dir, 'requests.yaml');
    fs.writeFileSync(
      file,
      `apiVersion: v1\nkind: Pod\nmetadata:\n  name: sized\nspec:\n  terminationGracePeriodSeconds: 1\n  containers:\n    - name: a\n      image: ${IMAGE}\n      command: ["sleep", "1000"]\n      resources: {requests: {memory: 300Mi, cpu: 1500m}}\n    - name: b\n      image: ${IMAGE}\n      command: ["sleep", "1000"]\n      resources: {requests: {memory: 50Mi}, limits: {memory: 100Mi}}\n`,
    );
    await ok(d, ['run-pod', '-f', file]);
    const pod = (JSON.parse(await ok(d, ['list', '--json'])) as Array<{ name: string; vm: string }>).find(
      (p) => p.name === 'sized',
    );
    const vm = (
      JSON.parse(await ok(d, ['list', 'vms', '--json'])) as Array<{ id: string; memoryMiB: number; cpus: number }>
    ).find((v) => v.id === pod?.vm);
    // 300 MiB requested by a, b's 100 MiB limit (not its request), the guest's 64; 1.5 CPUs: 2.
    expect(vm).toMatchObject({ memoryMiB: 300 + 100 + 64, cpus: Math.min(2, os.cpus().length) });
    // The guest has that memory (the kernel keeps some of it for itself).
    const total =
      Number(/MemTotal:\s+(\d+) kB/.exec(await ok(d, ['exec', 'sized', 'cat', '/proc/meminfo']))?.[1]) / 1024;
    expect(total).toBeGreaterThan(400);
    expect(total).toBeLessThanOrEqual(464);
    await ok(d, ['rm', '-f', 'sized']);
  });

  test('a bad pod file is refused by field, and creates nothing', async () => {
    const before = await ok(d, ['list', '--json']);
    const file = path.join(dir, 'bad.yaml');
    fs.writeFileSync(
      file,
      `apiVersion: v1\nkind: Pod\nmetadata:\n  name: bad\nspec:\n  containers:\n    - name: a\n      image: ${IMAGE}\n      livenessProbe: {exec: {command: ["true"]}, successThreshold: 2}\n      lifecycle: {preStop: {exec: {command: ["true"]}}}\n`,
    );
    const r = await podvisor(d, ['create-pod', '-f', file]);
    expect(r.code).toBe(2);
    expect(r.err).toContain('spec.containers[0].livenessProbe.successThreshold: Invalid value: 2: must be 1');
    expect(r.err).toContain('spec.containers[0].lifecycle: not supported by podvisor');
    expect(await ok(d, ['list', '--json'])).toBe(before);
  });

  test('a hostPath that does not exist is refused, as a Docker bind with a missing source is, and creates nothing', async () => {
    const before = await ok(d, ['list', '--json']);
    const missing = path.join(dir, 'no-such-dir');
    const file = path.join(dir, 'missing-host-path.yaml');
    fs.writeFileSync(
      file,
      `apiVersion: v1\nkind: Pod\nmetadata:\n  name: hostpath-missing\nspec:\n  volumes:\n    - name: h\n      hostPath: {path: ${missing}}\n  containers:\n    - name: a\n      image: ${IMAGE}\n      volumeMounts: [{name: h, mountPath: /h}]\n`,
    );
    // The native API words the pod layer's refusal itself; the Docker API renders dockerd's
    // words for the same typed error (src/translate/pod-errors.ts). Both are a 400.
    const words = `invalid mount config for type "bind": bind source path does not exist: ${missing}`;
    const r = await podvisor(d, ['create-pod', '-f', file]);
    expect(r.code).toBe(2);
    expect(r.err).toContain(`podvisor: bind source ${missing} does not exist`);
    const docker = await dockerCli(d, ['create', '--mount', `type=bind,source=${missing},target=/h`, IMAGE]);
    expect(docker.code).not.toBe(0);
    expect(docker.err).toContain(`Error response from daemon: ${words}`);
    expect(await ok(d, ['list', '--json'])).toBe(before);
    expect(fs.existsSync(missing)).toBe(false);
  });
});
