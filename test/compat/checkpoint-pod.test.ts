/**
 * A checkpoint of a native pod of several containers (a pod file's, run with `podvisor run-pod
 * -f`): each container's writable layer is a disk hot-plugged on the pod's VM, so the save
 * copies each of them, and a start from the checkpoint (`podvisor start --checkpoint`) brings
 * the whole pod back: every container's disk an overlay over its copy, hot-plugged where the
 * save found it before the state loads, and every container's processes taken over where they
 * were. Two busybox counters, each appending to a file of its own layer: after a save without
 * and with --leave-running and the restore, each file counts on with no gap and no repeat,
 * which holds only when each container's disk is the one its memory knows, and each one's log
 * goes on; a restored pod (on copy-on-write disks) is saved and restored again. Two forks of
 * such a checkpoint count on from the save, each on disks of its own, go on through a daemon
 * SIGKILL, and start afresh after a stop. A pod whose init container ended is saved, restored
 * and forked. Real server software: PostgreSQL (the fixture built like the official image) with
 * a busybox sidecar in one pod, 1,000 rows saved and restored with no recovery in its log, and a
 * fork with a row of its own. Through the podvisor CLI on real VMs.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { startDaemon, stopDaemonLeavingNothing, type TestDaemon } from '../helpers/daemon';
import { podvisor, podvisorOk } from '../helpers/podvisor-cli';
import { fixtureRegistry } from '../fixtures/registry';

jest.setTimeout(400_000);

const IMAGE = `${fixtureRegistry()}/busybox`;
const POD = 'cpod';
const FORKS = ['cfork1', 'cfork2'];

/** A counter: one line per count, appended to `/count` and printed, every 0.1 s. */
const COUNTER = 'i=0; while true; do i=$((i+1)); echo $i >> /count; echo $i; sleep 0.1; done';

let d: TestDaemon;
let dir: string;
beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'checkpoint-pod-'));
  d = await startDaemon({ vmPoolSize: 0 });
});
afterAll(async () => {
  if (!d) return;
  await podvisor(d, ['rm', '-f', POD, ...FORKS]);
  await stopDaemonLeavingNothing(d);
  fs.rmSync(dir, { recursive: true, force: true });
});

const ok = (args: string[]) => podvisorOk(d, args);

/** The numbers in container `c`'s /count. */
async function counts(c: string, pod = POD): Promise<number[]> {
  const text = await ok(['exec', '-c', c, pod, 'cat', '/count']);
  return text
    .split('\n')
    .filter(Boolean)
    .map((l) => Number(l));
}

/** Container `c`'s counts once it has counted past `past` (or after 30 s). */
async function countsPast(c: string, past: number, pod = POD): Promise<number[]> {
  const end = Date.now() + 30_000;
  for (;;) {
    const n = await counts(c, pod);
    if (n.length > past || Date.now() > end) return n;
    await new Promise((r) => setTimeout(r, 200));
  }
}

/**
 * Container `c`'s counts once a fresh run has counted too (its first 1 after the earlier
 * runs' counts), or after 30 s: a start answers once the command runs, which may be before
 * its first line has been written.
 */
async function countsWithNewRun(c: string, pod = POD): Promise<{ n: number[]; restart: number }> {
  const end = Date.now() + 30_000;
  for (;;) {
    const n = await counts(c, pod);
    const restart = n.findIndex((v, i) => i > 0 && v === 1);
    if (restart > 0 || Date.now() > end) return { n, restart };
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** 1, 2, ... n. */
const upTo = (n: number) => Array.from({ length: n }, (_, i) => i + 1);

/** The pod's state as `podvisor list --json` shows it. */
async function podState(): Promise<string> {
  const pods = JSON.parse(await ok(['list', '--json'])) as Array<{ name: string; state: string }>;
  return pods.find((p) => p.name === POD)?.state ?? 'gone';
}

test('a pod of two containers is saved whole and restored: each counts on from its own disk, no gap, no repeat', async () => {
  await ok(['pull', IMAGE]);
  const file = path.join(dir, 'pod.json');
  fs.writeFileSync(
    file,
    JSON.stringify({
      id: POD,
      containers: [
        { name: 'a', image: IMAGE, command: ['sh', '-c', COUNTER] },
        { name: 'b', image: IMAGE, command: ['sh', '-c', COUNTER] },
      ],
      resource: { vcpu: 1, memory: 256 },
    }),
  );
  expect(await ok(['run-pod', '-f', file])).toMatch(new RegExp(`^${POD} [0-9a-f]{64}\\n$`));
  // Each container on disks of its own, hot-plugged: two SCSI disks each, beside the VM's own image disk.
  const scsi = (await ok(['exec', '-c', 'a', POD, 'ls', '/sys/block'])).split(/\s+/).filter((b) => /^sd/.test(b));
  expect(scsi.length).toBe(5);
  await countsPast('a', 5);
  await countsPast('b', 5);

  // Without --leave-running: saved, and its run ends.
  expect((await ok(['checkpoint', POD, 'stopped'])).trim()).toBe('stopped');
  expect(await podState()).not.toBe('Running');
  expect(await ok(['checkpoint', '--ls', POD])).toMatch(/stopped/);

  const started = Date.now();
  await ok(['start', '--checkpoint', 'stopped', POD]);
  process.stdout.write(`checkpoint-pod: podvisor start --checkpoint (two containers): ${Date.now() - started} ms\n`);
  expect(await podState()).toBe('Running');
  for (const c of ['a', 'b']) {
    const before = (await counts(c)).length;
    const n = await countsPast(c, before + 5);
    // Each file counts on where its process was saved: what the disk held then is what its memory knew.
    expect(n).toEqual(upTo(n.length));
    expect(n.length).toBeGreaterThan(before);
    // Its log goes on where it was too (the pod's main container's log, and the other's own).
    const logged = (await ok(['logs', '-c', c, POD])).split('\n').filter(Boolean).map(Number);
    expect(logged).toEqual(upTo(logged.length));
  }

  // With --leave-running: saved, and both count on.
  const saved = await ok(['checkpoint', '--leave-running', POD, 'running']);
  expect(saved.trim()).toBe('running');
  expect(await podState()).toBe('Running');
  const atSave = (await counts('a')).length;
  const after = await countsPast('a', atSave + 5);
  expect(after).toEqual(upTo(after.length));
  // Written after the save: not on the disk the checkpoint restores.
  await ok(['exec', '-c', 'b', POD, 'sh', '-c', 'echo later > /after-save && sync']);

  // Stopped, then started from that checkpoint once its fork template is made (the save starts
  // it in the background): back at the save, counting on from there, its RAM mapped.
  await ok(['stop', '-t', '0', POD]);
  const pod = (
    JSON.parse(await ok(['list', '--json'])) as Array<{ id: string; name: string; containers: Array<{ id: string }> }>
  ).find((p) => p.name === POD)!;
  const cpDir = path.join(d.dataRoot, 'containers', pod.id, 'checkpoints', 'running');
  const templateFiles = ['fork.state', 'fork.ram', 'fork-joined-0.disk', 'fork-joined-1.disk'];
  for (let i = 0; i < 600 && !templateFiles.every((f) => fs.existsSync(path.join(cpDir, f))); i++)
    await new Promise((r) => setTimeout(r, 100));
  expect(templateFiles.filter((f) => !fs.existsSync(path.join(cpDir, f)))).toEqual([]);
  await ok(['start', '--checkpoint', 'running', POD]);
  // Each container's disk is a copy-on-write overlay standing on the template's copy of its
  // disk (a link of it: what the template's memory knows), not a copy, nor the disk it ran on
  // after the save.
  const copies = ['fork-joined-0.disk', 'fork-joined-1.disk'].map((f) => fs.statSync(path.join(cpDir, f)).ino);
  const under = pod.containers.map(
    (c) => fs.statSync(path.join(d.dataRoot, 'containers', c.id, 'upper.ext4.backing', '0')).ino,
  );
  expect(under.sort()).toEqual(copies.sort());
  for (const c of ['a', 'b']) {
    const n = await countsPast(c, 5);
    expect(n).toEqual(upTo(n.length));
  }

  // A restored pod saved again (its disks now copy-on-write overlays) and restored again.
  await ok(['checkpoint', POD, 'again']);
  await ok(['start', '--checkpoint', 'again', POD]);
  const last = new Map<string, number>();
  for (const c of ['a', 'b']) {
    const before = (await counts(c)).length;
    const n = await countsPast(c, before + 3);
    expect(n).toEqual(upTo(n.length));
    last.set(c, n.length);
  }

  // Stopped and started afresh (no checkpoint): each guest filesystem is mounted anew from its
  // copy-on-write disk, so what it reads is what the disk holds, not the restored page cache.
  await ok(['stop', '-t', '0', POD]);
  await ok(['start', POD]);
  for (const c of ['a', 'b']) {
    // The restored run's counts, then the new run's from 1.
    const { n, restart } = await countsWithNewRun(c);
    expect(restart).toBeGreaterThan(0);
    const kept = n.slice(0, restart);
    expect(kept).toEqual(upTo(kept.length));
    expect(kept.length).toBeGreaterThanOrEqual(last.get(c) as number);
  }
  // The file written after the --leave-running save is not there: the disks were the save's
  // (its name is listed from the directory's block as the disk holds it).
  expect((await ok(['exec', '-c', 'b', POD, 'ls', '-a', '/'])).split(/\s+/)).not.toContain('after-save');

  // Two forks of the --leave-running checkpoint: new pods, each container counting on from
  // the save, on copy-on-write disks of its own.
  const forked = Date.now();
  expect(await ok(['fork', POD, 'running', '--name', 'cfork1', '--name', 'cfork2'])).toMatch(/cfork1[\s\S]*cfork2/);
  process.stdout.write(`checkpoint-pod: podvisor fork (two pods of two containers): ${Date.now() - forked} ms\n`);
  for (const f of FORKS)
    for (const c of ['a', 'b']) {
      const n = await countsPast(c, 5, f);
      expect(n).toEqual(upTo(n.length));
    }
  await ok(['exec', '-c', 'b', 'cfork1', 'sh', '-c', 'echo mine > /mine']);
  expect((await podvisor(d, ['exec', '-c', 'b', 'cfork2', 'test', '-e', '/mine'])).code).toBe(1);
  expect((await podvisor(d, ['exec', '-c', 'b', POD, 'test', '-e', '/mine'])).code).toBe(1);
  // A fork's log holds what it printed since the fork: the counts after the saved ones, in a row.
  const forkLog = (await ok(['logs', '-c', 'a', 'cfork2'])).split('\n').filter(Boolean).map(Number);
  expect(forkLog.length).toBeGreaterThan(0);
  expect(forkLog[0]).toBeGreaterThan(1);
  expect(forkLog).toEqual(forkLog.map((_, i) => forkLog[0] + i));
  // A daemon SIGKILL: the next daemon takes the forks over, and they count on.
  await d.kill9();
  await d.restart();
  for (const c of ['a', 'b']) {
    const before = (await counts(c, 'cfork2')).length;
    const n = await countsPast(c, before + 3, 'cfork2');
    expect(n).toEqual(upTo(n.length));
  }
  // A fork stopped and started afresh: its containers' disks (named as the saved ones') go and come back.
  await ok(['stop', '-t', '0', 'cfork1']);
  await ok(['start', 'cfork1']);
  for (const c of ['a', 'b']) {
    const { n, restart } = await countsWithNewRun(c, 'cfork1');
    expect(restart).toBeGreaterThan(0);
    expect(n.slice(0, restart)).toEqual(upTo(restart));
  }
  expect(await ok(['exec', '-c', 'b', 'cfork1', 'cat', '/mine'])).toBe('mine\n');
  await ok(['rm', '-f', ...FORKS]);

  // A start from a checkpoint it does not have: 404's words, and the pod runs on.
  const none = await podvisor(d, ['start', '--checkpoint', 'nope', POD]);
  expect(none.code).not.toBe(0);
  expect(none.err).toMatch(/already running|has no checkpoint nope/);
  await ok(['stop', '-t', '0', POD]);
  const missing = await podvisor(d, ['start', '--checkpoint', 'nope', POD]);
  expect(missing.err).toMatch(/pod cpod has no checkpoint nope/);
  expect(await podState()).not.toBe('Running');
});

test('a pod of several is saved whole: one whose container has ended is refused with the reason, and runs on', async () => {
  const file = path.join(dir, 'part.json');
  fs.writeFileSync(
    file,
    JSON.stringify({
      id: 'cpart',
      containers: [
        { name: 'a', image: IMAGE, command: ['sleep', '3600'] },
        { name: 'b', image: IMAGE, command: ['true'] },
      ],
    }),
  );
  try {
    await ok(['run-pod', '-f', file]);
    const ended = async () =>
      (
        JSON.parse(await ok(['list', '--json'])) as Array<{
          name: string;
          containers: Array<{ name: string; status: string }>;
        }>
      )
        .find((p) => p.name === 'cpart')
        ?.containers.find((c) => c.name === 'b')?.status;
    const end = Date.now() + 30_000;
    while ((await ended()) === 'running' && Date.now() < end) await new Promise((r) => setTimeout(r, 200));
    const r = await podvisor(d, ['checkpoint', 'cpart', 'cp']);
    expect(r.code).not.toBe(0);
    expect(r.err).toMatch(/container b of the pod does not run: a pod of several is saved whole/);
    expect(await ok(['exec', '-c', 'a', 'cpart', 'true'])).toBe('');
    expect(await ok(['checkpoint', '--ls', 'cpart'])).not.toMatch(/\bcp\b/);
  } finally {
    await podvisor(d, ['rm', '-f', 'cpart']);
  }
});

test("a pod whose init container ended is saved with that container's disks, restored and forked; the init container stays ended", async () => {
  const file = path.join(dir, 'init.yaml');
  fs.writeFileSync(
    file,
    `apiVersion: v1
kind: Pod
metadata:
  name: cinit
spec:
  initContainers:
    - name: seed
      image: ${IMAGE}
      command: ["sh", "-c", "echo seeded > /seeded"]
  containers:
    - name: a
      image: ${IMAGE}
      command: ["sh", "-c", "${COUNTER}"]
`,
  );
  const seed = async (pod: string) =>
    (
      JSON.parse(await ok(['list', '--json'])) as Array<{
        name: string;
        containers: Array<{ name: string; status: string; exitCode: number }>;
      }>
    )
      .find((p) => p.name === pod)
      ?.containers.find((c) => c.name === 'seed');
  try {
    await ok(['run-pod', '-f', file]);
    await countsPast('a', 5, 'cinit');
    expect(await seed('cinit')).toMatchObject({ status: 'exited', exitCode: 0 });
    await ok(['checkpoint', 'cinit', 'cp']);
    await ok(['start', '--checkpoint', 'cp', 'cinit']);
    const before = (await counts('a', 'cinit')).length;
    const n = await countsPast('a', before + 3, 'cinit');
    expect(n).toEqual(upTo(n.length));
    expect(await seed('cinit')).toMatchObject({ status: 'exited', exitCode: 0 });
    await ok(['fork', 'cinit', 'cp', '--name', 'cinitf']);
    const f = await countsPast('a', 5, 'cinitf');
    expect(f).toEqual(upTo(f.length));
    // The fork goes on from a guest whose init container had ended: it shows so.
    expect(await seed('cinitf')).toMatchObject({ status: 'exited', exitCode: 0 });
    // Both stop cleanly, their init containers' disks unplugged with the rest.
    await ok(['stop', '-t', '0', 'cinitf']);
    await ok(['stop', '-t', '0', 'cinit']);
  } finally {
    await podvisor(d, ['rm', '-f', 'cinit', 'cinitf']);
  }
});

test('PostgreSQL and a busybox sidecar in one pod: 1,000 rows saved, restored without recovery, and forked with rows of its own', async () => {
  const pg = `${fixtureRegistry()}/debian-postgres:15`;
  await ok(['pull', pg]);
  const file = path.join(dir, 'pg.yaml');
  fs.writeFileSync(
    file,
    `apiVersion: v1\nkind: Pod\nmetadata:\n  name: cpg\nspec:\n  terminationGracePeriodSeconds: 5\n  containers:\n    - name: db\n      image: ${pg}\n      env:\n        - name: POSTGRES_PASSWORD\n          value: secret\n    - name: side\n      image: ${IMAGE}\n      command: ["sleep", "3600"]\n`,
  );
  /** psql's answer to `sql` in pod `pod`'s database container (its error thrown when it fails). */
  const psql = async (pod: string, sql: string) =>
    (await ok(['exec', '-c', 'db', pod, 'su', 'postgres', '-c', `psql -At -h 127.0.0.1 -c '${sql}'`])).trim();
  const ready = async (pod: string) => {
    const end = Date.now() + 240_000;
    while ((await podvisor(d, ['exec', '-c', 'db', pod, 'pg_isready', '-q', '-h', '127.0.0.1'])).code !== 0) {
      if (Date.now() > end) throw new Error(`${pod}: PostgreSQL never became ready`);
      await new Promise((r) => setTimeout(r, 300));
    }
  };
  try {
    await ok(['run-pod', '-f', file]);
    await ready('cpg');
    expect(
      (
        await psql(
          'cpg',
          'CREATE TABLE t (v int); INSERT INTO t SELECT generate_series(1, 1000); SELECT count(*) FROM t;',
        )
      )
        .split('\n')
        .pop(),
    ).toBe('1000');
    await ok(['checkpoint', 'cpg', 'rows']);
    const logBefore = await ok(['logs', '-c', 'db', 'cpg']);
    await ok(['start', '--checkpoint', 'rows', 'cpg']);
    await ready('cpg');
    expect(await psql('cpg', 'SELECT count(*) FROM t')).toBe('1000');
    // Its log goes on with no new start and no recovery: the server was never down.
    const logAfter = await ok(['logs', '-c', 'db', 'cpg']);
    expect(logAfter.startsWith(logBefore)).toBe(true);
    expect(logAfter.slice(logBefore.length)).not.toMatch(
      /database system was (interrupted|not properly shut down)|redo starts|starting PostgreSQL/,
    );
    // The sidecar still reaches it over the pod's localhost (PostgreSQL's answer to an SSLRequest).
    const probe = "printf '\\0\\0\\0\\10\\4\\322\\26\\57' | timeout 5 nc 127.0.0.1 5432 | head -c 1";
    expect(await ok(['exec', '-c', 'side', 'cpg', 'sh', '-c', probe])).toBe('N');
    // A fork: rows of its own, the pod's untouched.
    await ok(['fork', 'cpg', 'rows', '--name', 'cpgf']);
    await ready('cpgf');
    expect(await psql('cpgf', 'INSERT INTO t VALUES (1001); SELECT count(*) FROM t;')).toMatch(/1001$/);
    expect(await psql('cpg', 'SELECT count(*) FROM t')).toBe('1000');
  } finally {
    await podvisor(d, ['rm', '-f', 'cpg', 'cpgf']);
  }
});
