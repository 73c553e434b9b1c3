/**
 * testcontainers-node with Ryuk on, against the real daemon (real QEMU VMs): a child Node
 * process starts a container with GenericContainer and exits without stopping it; the reaper
 * testcontainers started first (our `debian-ryuk` fixture, through RYUK_CONTAINER_IMAGE: the
 * Ryuk image cannot be pulled here) holds testcontainers' TCP connection through its published
 * port 8080 and, once the connection is gone and the reconnection timeout has passed, removes
 * the container through the daemon socket bind-mounted into it (a host socket as a single-file
 * bind), then exits and is removed itself (AutoRemove).
 *
 * The same session runs against the baseline dockerd 20.10 + runc (its own network namespace,
 * the child in it too, so that localhost reaches the baseline's published port): the fixture
 * speaks the protocol as the real clients expect, so a difference would be podvisor's.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { startNetnsDockerd, type NetnsDockerd } from '../../bench/netns-dockerd';
import { startDaemon, stopDaemonLeavingNothing, type TestDaemon } from '../helpers/daemon';
import { fixtureRegistry } from '../fixtures/registry';
import { dockerOk, dockerSync } from '../helpers/docker-cli';

jest.setTimeout(600000);

const REG = fixtureRegistry();
const BUSYBOX = `${REG}/busybox:latest`;
const RYUK = `${REG}/debian-ryuk:latest`;
/** The child: start a container under testcontainers' reaper, print its ID, exit leaving it. */
const CHILD = `
const { GenericContainer } = require(${JSON.stringify(require.resolve('testcontainers'))});
(async () => {
  const c = await new GenericContainer(${JSON.stringify(BUSYBOX)}).withCommand(['sleep', '600']).start();
  process.stdout.write(JSON.stringify({ id: c.getId(), labels: c.getLabels() }) + '\\n');
  process.exit(0);
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
`;

let dir: string;
let d: TestDaemon | undefined;

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pv-testcontainers-'));
  fs.writeFileSync(path.join(dir, 'child.js'), CHILD);
});

afterAll(async () => {
  if (d) await stopDaemonLeavingNothing(d);
  fs.rmSync(dir, { recursive: true, force: true });
});

/**
 * Run the child against `env`'s daemon (under `prefix`, e.g. nsenter); its container's ID. The
 * container was started under the reaper's session (the label the reaper filters on).
 */
async function session(env: NodeJS.ProcessEnv, prefix: string[] = [], extra: NodeJS.ProcessEnv = {}): Promise<string> {
  const childEnv: NodeJS.ProcessEnv = {
    ...env,
    RYUK_CONTAINER_IMAGE: RYUK,
    TESTCONTAINERS_RYUK_RECONNECTION_TIMEOUT: '2s',
  };
  delete childEnv.TESTCONTAINERS_RYUK_DISABLED;
  Object.assign(childEnv, extra);
  const argv = [...prefix, process.execPath, path.join(dir, 'child.js')];
  const child = spawn(argv[0], argv.slice(1), { env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr.on('data', (b: Buffer) => (err += b.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  if (code !== 0) throw new Error(`the testcontainers child exited ${code}: ${err.slice(-4000)}`);
  const started = JSON.parse(out.trim()) as { id: string; labels: Record<string, string> };
  expect(started.labels['org.testcontainers.session-id']).toMatch(/\w/);
  return started.id;
}

/** IDs of every container, and names of the reapers, on `env`'s daemon. */
function listed(env: NodeJS.ProcessEnv): { ids: string[]; reapers: string[] } {
  const ids = dockerOk({ env }, ['ps', '-aq', '--no-trunc']).split('\n').filter(Boolean);
  const reapers = dockerOk({ env }, ['ps', '-a', '--filter', 'name=testcontainers-ryuk-', '--format', '{{.Names}}'])
    .split('\n')
    .filter(Boolean);
  return { ids, reapers };
}

/**
 * After the child's exit (no one stopped its container): the container is gone (the reaper
 * removed it), and so is the reaper. Bounded waits: the reconnection timeout is 2 s, removal takes what the
 * daemon takes.
 */
async function expectReaped(env: NodeJS.ProcessEnv, id: string): Promise<void> {
  let now = listed(env);
  for (let i = 0; i < 300 && (now.ids.includes(id) || now.reapers.length > 0); i++) {
    await sleep(500);
    now = listed(env);
  }
  expect(now.ids).not.toContain(id);
  expect(now.reapers).toEqual([]);
}

test('podvisor: the container a testcontainers process leaves behind is removed by its reaper, which then goes too', async () => {
  d = await startDaemon();
  dockerOk(d, ['pull', '-q', BUSYBOX], 300000);
  dockerOk(d, ['pull', '-q', RYUK], 300000);
  // Without the reaper the container stays: what removes the next one is the reaper.
  const kept = await session(d.env, [], { TESTCONTAINERS_RYUK_DISABLED: 'true' });
  const id = await session(d.env);
  await expectReaped(d.env, id);
  // Only its session's: the other session's container is still there.
  expect(listed(d.env).ids).toContain(kept);
  dockerSync(d, ['rm', '-f', kept], 120000);
});

test('dockerd 20.10 + runc: the same session, so the fixture speaks the protocol as the clients expect', async () => {
  let base: NetnsDockerd | undefined;
  try {
    base = await startNetnsDockerd(path.join(dir, 'dockerd'));
    dockerOk(base, ['pull', '-q', BUSYBOX], 300000);
    dockerOk(base, ['pull', '-q', RYUK], 300000);
    const id = await session(base.env, base.inNetns);
    await expectReaped(base.env, id);
  } finally {
    if (base) {
      const left = dockerSync(base, ['ps', '-aq'], 60000).out.split('\n').filter(Boolean);
      if (left.length) dockerSync(base, ['rm', '-f', ...left], 120000);
      await base.stop();
    }
  }
});
