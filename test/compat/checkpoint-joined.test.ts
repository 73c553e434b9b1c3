/**
 * A checkpoint of a container that another one joined (`docker run --network container:X`):
 * the save takes X's whole VM, the joined container's hot-plugged disks with it (its upper
 * disk copied), and a VM started from it (a restore, a fork) holds X alone, as runc's restore
 * of X brings back X's processes only (src/vm/qemu/snapshots/joined-drop.ts). The joined
 * container itself is untouched by the save with --leave-running, exits with X without it
 * (as at X's stop: ended before the save, its layer synced, src/pod/lifecycle/joiners.ts), and
 * joins the restored VM anew when started, its layer whole; X's stop keeps its last writes too. Then real server software:
 * PostgreSQL (the fixture built like the official image) with a busybox sidecar in its VM,
 * saved, restored without recovery, and reached again by the sidecar started anew. Through the
 * stock docker CLI and the podvisor CLI on real VMs.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { dockerCli } from '../helpers/docker-cli';
import { vmDisks, vmDisksBecome } from '../helpers/vm-disks';
import { startDaemon, stopDaemonLeavingNothing, type TestDaemon } from '../helpers/daemon';
import { podvisorOk } from '../helpers/podvisor-cli';
import { fixtureRegistry } from '../fixtures/registry';

jest.setTimeout(400_000);

const IMAGE = `${fixtureRegistry()}/busybox`;

let d: TestDaemon;
beforeAll(async () => {
  // Debug: the fork templates' steps are logged then (printed below, for the record).
  d = await startDaemon({ vmPoolSize: 0, args: ['--experimental', '--log-level', 'debug'] });
});
afterAll(async () => {
  if (!d) return;
  for (const line of d.logs().match(/fork template \S+ made: .*/g) ?? [])
    process.stdout.write(`checkpoint-joined: ${line}\n`);
  const ids = (await dockerCli(d, ['ps', '-aq'])).out.split('\n').filter(Boolean);
  if (ids.length) await dockerCli(d, ['rm', '-f', ...ids]);
  await stopDaemonLeavingNothing(d);
});

const docker = async (args: string[]) => {
  const started = Date.now();
  const r = await dockerCli(d, args);
  if (/^(checkpoint|start)$/.test(args[0]) && args.some((a) => a.startsWith('--')))
    process.stdout.write(`checkpoint-joined: docker ${args.join(' ')}: ${Date.now() - started} ms\n`);
  if (r.code !== 0) console.log(`docker ${args.join(' ')}: ${r.code} ${r.err}`);
  return r;
};

/** `docker inspect`'s running flag and exit code of `name`, once it stopped running (or after 20 s). */
async function stateOnceStopped(name: string): Promise<string> {
  const end = Date.now() + 20_000;
  for (;;) {
    const s = (await docker(['inspect', '-f', '{{.State.Running}} {{.State.ExitCode}}', name])).out.trim();
    if (s.startsWith('false') || Date.now() > end) return s;
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** The joined container's /guest.txt once it has `lines` lines (its command, run again at its start, appends one), or after 20 s. */
async function guestFileOnceLines(lines: number): Promise<string> {
  const end = Date.now() + 20_000;
  for (;;) {
    const text = (await docker(['exec', 'jguest', 'cat', '/guest.txt'])).out;
    if (text.split('\n').length > lines || Date.now() > end) return text;
    await new Promise((r) => setTimeout(r, 250));
  }
}

test('a container another one joined is saved, restored and forked alone; the joined one goes on, or exits with it and joins it again', async () => {
  expect((await docker(['run', '-d', '--name', 'jhost', IMAGE, 'sleep', '3600'])).code).toBe(0);
  expect((await docker(['exec', 'jhost', 'sh', '-c', 'echo host-file > /host.txt'])).code).toBe(0);
  const alone = await vmDisks(d, 'jhost');
  const join = ['run', '-d', '--name', 'jguest', '--network', 'container:jhost', IMAGE];
  expect((await docker([...join, 'sh', '-c', 'echo guest-file >> /guest.txt; exec sleep 3600'])).code).toBe(0);
  expect((await vmDisks(d, 'jhost')).length).toBe(alone.length + 2);

  // With --leave-running: saved, and both run on, the joined one on its own disks.
  expect((await docker(['checkpoint', 'create', '--leave-running', 'jhost', 'running'])).code).toBe(0);
  expect((await docker(['exec', 'jguest', 'cat', '/guest.txt'])).out).toBe('guest-file\n');
  expect((await docker(['exec', 'jguest', 'sh', '-c', 'echo after-save >> /guest.txt'])).code).toBe(0);

  // A fork of that save: X's files, and none of the joined container's disks in its VM.
  const forkStarted = Date.now();
  await podvisorOk(d, ['fork', 'jhost', 'running', '--name', 'jfork']);
  process.stdout.write(`checkpoint-joined: podvisor fork: ${Date.now() - forkStarted} ms\n`);
  expect((await docker(['exec', 'jfork', 'cat', '/host.txt'])).out).toBe('host-file\n');
  expect(await vmDisksBecome(d, 'jfork', alone)).toEqual(alone);
  expect((await docker(['rm', '-f', 'jfork'])).code).toBe(0);

  // Without --leave-running: X stops, and the joined container with it (as at X's stop): it
  // ends first, its layer synced, and the checkpoint holds X alone.
  expect((await docker(['checkpoint', 'create', 'jhost', 'stopped'])).code).toBe(0);
  expect(await stateOnceStopped('jhost')).toBe('false 137');
  expect(await stateOnceStopped('jguest')).toBe('false 137');

  // Restored: X's file there, its VM without the joined container's disks.
  expect((await docker(['start', '--checkpoint', 'stopped', 'jhost'])).code).toBe(0);
  expect((await docker(['exec', 'jhost', 'cat', '/host.txt'])).out).toBe('host-file\n');
  expect(await vmDisksBecome(d, 'jhost', alone)).toEqual(alone);

  // The joined container starts again in the restored VM, on its own disks, with its own
  // layer as it left it (not the save's copy): nothing of it was left in the guest.
  expect((await docker(['start', 'jguest'])).code).toBe(0);
  expect(await guestFileOnceLines(3)).toBe('guest-file\nafter-save\nguest-file\n');
  expect((await vmDisks(d, 'jhost')).length).toBe(alone.length + 2);
  expect((await docker(['stop', '-t', '0', 'jguest'])).code).toBe(0);
  expect(await vmDisksBecome(d, 'jhost', alone)).toEqual(alone);

  // X's stop takes the joined container with it, and what it wrote just before is kept (its
  // layer synced before the VM goes, as dockerd's kill loses no written byte).
  expect((await docker(['start', 'jguest'])).code).toBe(0);
  expect(await guestFileOnceLines(4)).toBe('guest-file\nafter-save\nguest-file\nguest-file\n');
  expect((await docker(['exec', 'jguest', 'sh', '-c', 'echo before-host-stop >> /guest.txt'])).code).toBe(0);
  expect((await docker(['stop', '-t', '0', 'jhost'])).code).toBe(0);
  expect(await stateOnceStopped('jguest')).toBe('false 137');
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'checkpoint-joined-'));
  try {
    expect((await docker(['cp', 'jguest:/guest.txt', out])).code).toBe(0);
    expect(fs.readFileSync(path.join(out, 'guest.txt'), 'utf8')).toBe(
      'guest-file\nafter-save\nguest-file\nguest-file\nbefore-host-stop\n',
    );
  } finally {
    fs.rmSync(out, { recursive: true, force: true });
  }
  expect((await docker(['rm', '-f', 'jguest', 'jhost'])).code).toBe(0);
});

const PG_IMAGE = `${fixtureRegistry()}/debian-postgres:15`;

/** A query through the server's own psql in container `jpg`: its rows, or '' when it does not answer. */
async function pgQuery(sql: string): Promise<string> {
  const r = await dockerCli(d, ['exec', 'jpg', 'psql', '-U', 'postgres', '-Atc', sql]);
  return r.code === 0 ? r.out.trim() : '';
}

/** `docker logs jpg`, both streams. */
async function pgLogs(): Promise<string> {
  const r = await dockerCli(d, ['logs', 'jpg']);
  return `${r.out}${r.err}`;
}

test("PostgreSQL saved with a sidecar that joined it: restored alone, its rows there and no recovery; the sidecar started again reaches it over the VM's localhost", async () => {
  expect((await dockerCli(d, ['pull', '-q', PG_IMAGE])).code).toBe(0);
  // Run as users run it (the fixture is built like the official image: its VOLUME on the disk).
  expect((await docker(['run', '-d', '--name', 'jpg', '-e', 'POSTGRES_PASSWORD=secret', PG_IMAGE])).code).toBe(0);
  const end = Date.now() + 300_000;
  while ((await pgQuery('select 1')) !== '1' && Date.now() < end) await new Promise((r) => setTimeout(r, 500));
  await pgQuery('create table t (n int); insert into t select generate_series(1, 1000)');
  expect(await pgQuery('select count(*) from t')).toBe('1000');
  // A sidecar in its VM (Compose's network_mode: service:db), reaching it over localhost:
  // PostgreSQL answers an SSLRequest with "N".
  const sidecar = ['run', '-d', '--name', 'jside', '--network', 'container:jpg', IMAGE, 'sleep', '3600'];
  expect((await docker(sidecar)).code).toBe(0);
  const probe = "printf '\\0\\0\\0\\10\\4\\322\\26\\57' | timeout 5 nc 127.0.0.1 5432 | head -c 1";
  expect((await docker(['exec', 'jside', 'sh', '-c', probe])).out).toBe('N');
  const started = (await pgLogs()).match(/database system is ready to accept connections/g)?.length ?? 0;

  expect((await docker(['checkpoint', 'create', 'jpg', 'db'])).code).toBe(0);
  expect(await stateOnceStopped('jside')).toBe('false 137');
  expect((await docker(['start', '--checkpoint', 'db', 'jpg'])).code).toBe(0);
  // The rows at once, and the server's log goes on: no new start, no recovery.
  expect(await pgQuery('select count(*), sum(n) from t')).toBe('1000|500500');
  const log = await pgLogs();
  expect(log.match(/database system is ready to accept connections/g)?.length ?? 0).toBe(started);
  expect(log).not.toMatch(/not properly shut down|redo starts|automatic recovery/);

  // The sidecar joins the restored VM anew and reaches the server.
  expect((await docker(['start', 'jside'])).code).toBe(0);
  expect((await docker(['exec', 'jside', 'sh', '-c', probe])).out).toBe('N');
  expect((await docker(['rm', '-fv', 'jside', 'jpg'])).code).toBe(0);
});
