/**
 * An upgrade over an existing data root: the previous version of the daemon and its guest
 * (built here from git, commit OLD_COMMIT, the last one writing record layout 1; about 40 s on
 * a loaded 2-core machine) makes containers in every
 * state, is stopped as an upgrade stops it (SIGTERM: running containers keep running), and
 * this tree's daemon starts on the same data and exec roots. With the stock docker CLI, each
 * container is then as the old daemon last showed it (the same `docker inspect`, the running
 * one re-adopted, not restarted), its logs are there, the image is there, the records were
 * migrated (layout 2, no hostconfig.json), and everything still works (exec, stop, start, rm).
 */
import { execFile, execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DAEMON_MAIN, startDaemon, stopDaemonLeavingNothing, type TestDaemon } from '../helpers/daemon';
import { fixtureRegistry } from '../fixtures/registry';

jest.setTimeout(300_000);

/** The last commit whose daemon writes record layout 1. */
const OLD_COMMIT = 'e2bb444';
const REPO = path.resolve(__dirname, '../..');
const IMAGE = `${fixtureRegistry()}/busybox`;

/**
 * The docker CLI against `d`, pinned at API 1.41: the old daemon's version, so that what each
 * daemon shows is compared at one version (the new one serves bare requests as 1.45).
 */
function docker(d: TestDaemon, args: string[]): Promise<{ out: string; err: string; code: number }> {
  return new Promise((resolve) => {
    const env = { ...d.env, DOCKER_API_VERSION: '1.41' };
    execFile('docker', args, { env, timeout: 120000 }, (err, out, stderr) => {
      resolve({ out: String(out), err: String(stderr), code: err ? ((err as { code?: number }).code ?? 1) : 0 });
    });
  });
}

async function ok(d: TestDaemon, args: string[]): Promise<string> {
  const r = await docker(d, args);
  if (r.code !== 0) throw new Error(`docker ${args.join(' ')}: exit ${r.code}: ${r.err}`);
  return r.out;
}

async function inspect(d: TestDaemon, name: string): Promise<Record<string, unknown>> {
  return (JSON.parse(await ok(d, ['inspect', name])) as Array<Record<string, unknown>>)[0];
}

/**
 * Build the old daemon and its guest (kernel, initramfs, agent) from git into a temp
 * directory, so that the VMs it boots run the old agent, as after a real upgrade. Shares
 * node_modules, and the kernel package this tree's bootstrap unpacked (guest/out/cache).
 */
function buildOld(): { dir: string; main: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'podvisor-old-'));
  const tar = execFileSync(
    'git',
    ['-C', REPO, 'archive', OLD_COMMIT, 'src', 'guest', 'tsconfig.json', 'tsconfig.build.json', 'package.json'],
    { maxBuffer: 256 * 1024 * 1024 },
  );
  execFileSync('tar', ['-x', '-C', dir], { input: tar });
  fs.symlinkSync(path.join(REPO, 'node_modules'), path.join(dir, 'node_modules'));
  fs.mkdirSync(path.join(dir, 'guest/out'));
  execFileSync('cp', ['-a', path.join(REPO, 'guest/out/cache'), path.join(dir, 'guest/out/cache')]);
  execFileSync('bash', [path.join(dir, 'guest/build.sh')], { stdio: 'pipe' });
  execFileSync(process.execPath, [path.join(REPO, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json'], {
    cwd: dir,
    stdio: 'pipe',
  });
  return { dir, main: path.join(dir, 'dist/src/daemon/main.js') };
}

let d: TestDaemon | undefined;
let oldDir = '';

afterAll(async () => {
  if (d) await stopDaemonLeavingNothing(d);
  if (oldDir) fs.rmSync(oldDir, { recursive: true, force: true });
});

test('a data root written by the previous version comes up intact under this one', async () => {
  const old = buildOld();
  oldDir = old.dir;
  d = await startDaemon({ main: old.main });
  const dd = d;

  // The old daemon makes one container in each state.
  await ok(dd, ['pull', '-q', IMAGE]);
  await ok(dd, [
    'create',
    '--name',
    'made',
    '--label',
    'tier=db',
    '--restart',
    'on-failure:3',
    IMAGE,
    'sh',
    '-c',
    'echo made-ran',
  ]);
  await ok(dd, [
    'run',
    '-d',
    '--name',
    'runner',
    '--label',
    'tier=web',
    '--restart',
    'unless-stopped',
    '-m',
    '96m',
    IMAGE,
    'sh',
    '-c',
    'echo hello; while true; do sleep 1; done',
  ]);
  const done = await docker(dd, [
    'run',
    '--name',
    'done',
    '--label',
    'tier=batch',
    IMAGE,
    'sh',
    '-c',
    'echo bye; exit 3',
  ]);
  expect(done).toMatchObject({ out: 'bye\n', code: 3 });
  for (let i = 0; i < 100 && !(await ok(dd, ['logs', 'runner'])).includes('hello'); i++)
    await new Promise((r) => setTimeout(r, 100));
  // The exited container's teardown (VM destroyed, rootfs unmounted) ends in the background
  // after its exit; until then its inspect still shows a MergedDir. The upgrade starts from a
  // quiet daemon, so wait for it.
  const merged = async (n: string) =>
    ((await inspect(dd, n)).GraphDriver as { Data: { MergedDir: string } }).Data.MergedDir;
  for (let i = 0; i < 100 && (await merged('done')) !== ''; i++) await new Promise((r) => setTimeout(r, 100));
  const before: Record<string, Record<string, unknown>> = {};
  for (const n of ['made', 'runner', 'done']) before[n] = await inspect(dd, n);
  const imagesBefore = await ok(dd, ['images', '--format', '{{.Repository}}:{{.Tag}} {{.ID}}']);
  const ids = Object.fromEntries(Object.entries(before).map(([n, j]) => [n, j.Id as string]));
  const recordOf = (n: string) =>
    JSON.parse(fs.readFileSync(path.join(dd.dataRoot, 'containers', ids[n], 'config.v2.json'), 'utf8'));
  // What the old version wrote: layout 1 (one state per pod) and a hostconfig.json copy.
  expect(recordOf('runner')).toMatchObject({ state: { status: 'running' } });
  expect(recordOf('runner').version).toBeUndefined();
  const oldVmId = recordOf('runner').vmId as string;
  expect(oldVmId).toMatch(/^[0-9a-f]+$/);
  expect(fs.existsSync(path.join(dd.dataRoot, 'containers', ids.made, 'hostconfig.json'))).toBe(true);

  // The upgrade: SIGTERM to the old daemon (running containers keep running), the new one starts.
  await dd.restart(DAEMON_MAIN);
  // Re-adoption runs in the background after a restart; until it ends, inspect has no
  // MergedDir for the running container. `docker top` waits for it.
  await ok(dd, ['top', 'runner']);

  // Each container is as the old daemon last showed it; the running one was re-adopted
  // (same StartedAt and Pid), not restarted.
  for (const n of ['made', 'runner', 'done']) expect({ n, j: await inspect(dd, n) }).toEqual({ n, j: before[n] });
  expect(await ok(dd, ['ps', '-a', '--format', '{{.Names}} {{.State}} {{.Label "tier"}}'])).toBe(
    'done exited batch\nrunner running web\nmade created db\n',
  );
  expect(await ok(dd, ['images', '--format', '{{.Repository}}:{{.Tag}} {{.ID}}'])).toBe(imagesBefore);
  expect(await ok(dd, ['logs', 'done'])).toBe('bye\n');
  expect(await ok(dd, ['logs', 'runner'])).toBe('hello\n');

  // The records were migrated to layout 2 and the copy beside them is gone.
  for (const n of ['made', 'runner', 'done']) {
    expect(recordOf(n)).toMatchObject({ version: 2, id: ids[n], containers: { [ids[n]]: { spec: { id: ids[n] } } } });
    expect(fs.readdirSync(path.join(dd.dataRoot, 'containers', ids[n])).filter((f) => f === 'hostconfig.json')).toEqual(
      [],
    );
  }
  // The same VM runs it.
  expect(recordOf('runner').sandbox.vmId).toBe(oldVmId);

  // And they work: exec in the adopted one, stop it, start the created one, remove all.
  expect(await ok(dd, ['exec', 'runner', 'echo', 'still-here'])).toBe('still-here\n');
  await ok(dd, ['stop', '-t', '1', 'runner']);
  expect((await inspect(dd, 'runner')).State).toMatchObject({ Status: 'exited', Running: false });
  expect(await docker(dd, ['start', '-a', 'made'])).toMatchObject({ out: 'made-ran\n', code: 0 });
  await ok(dd, ['rm', '-f', 'made', 'runner', 'done']);
  expect(await ok(dd, ['ps', '-a', '-q'])).toBe('');
});
