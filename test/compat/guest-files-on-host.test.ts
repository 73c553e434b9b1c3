/**
 * What a container's root leaves on the host, through the stock docker CLI against the real
 * daemon (real QEMU VMs), with the attacker as guest root in a `--privileged` container and the
 * victim an unprivileged host user (nobody):
 * - a setuid-root copy of a program in a named volume cannot be run by a host user with root's
 *   rights: the data root is root's alone (0700), even one that existed open to all;
 * - a device node cannot be made in a named volume or a bind mount (mknod fails in the
 *   container), so no host process can open one there.
 * A setuid file in a bind mount is the user's own directory, as with Docker (docs/security.md).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { startDaemon, stopDaemonLeavingNothing, type TestDaemon } from '../helpers/daemon';
import { fixtureRegistry } from '../fixtures/registry';
import { dockerOk } from '../helpers/docker-cli';

jest.setTimeout(300000);

const IMAGE = `${fixtureRegistry()}/busybox`;

let d: TestDaemon;
/** A directory any host user can traverse, as /var/lib is: the data root is made inside it. */
let open: string;
/** The source of the bind mount. */
let bind: string;

const ok = (args: string[]): string => dockerOk(d, args, 120000);

/** `argv` run as the host user nobody (no groups): its output and exit status. */
function asNobody(argv: string[]): { out: string; err: string; status: number | null } {
  const r = spawnSync('runuser', ['-u', 'nobody', '--', ...argv], { encoding: 'utf8' });
  return { out: r.stdout.trim(), err: r.stderr.trim(), status: r.status };
}

beforeAll(async () => {
  open = fs.mkdtempSync(path.join(os.tmpdir(), 'pv-guestfiles-'));
  fs.chmodSync(open, 0o755);
  bind = path.join(open, 'bind');
  fs.mkdirSync(bind, { mode: 0o755 });
  // A root-owned program that prints the user it runs as: the guest makes a setuid copy of it.
  fs.copyFileSync('/usr/bin/id', path.join(bind, 'id'));
  fs.chmodSync(path.join(bind, 'id'), 0o755);
  // A data root that exists already, open to all (made by an administrator, a package or an
  // earlier version): the daemon closes it.
  const dataRoot = path.join(open, 'data');
  fs.mkdirSync(dataRoot);
  fs.chmodSync(dataRoot, 0o755);
  d = await startDaemon({ dataRoot });
  ok(['pull', '-q', IMAGE]);
  ok(['volume', 'create', 'loot']);
});

afterAll(async () => {
  if (d) await stopDaemonLeavingNothing(d);
  fs.rmSync(open, { recursive: true, force: true });
});

test("a setuid-root program guest root leaves in a volume does not run with root's rights for a host user", () => {
  ok([
    'run',
    '--rm',
    '--privileged',
    '-v',
    'loot:/v',
    '-v',
    `${bind}:/b`,
    IMAGE,
    'sh',
    '-c',
    'cp /b/id /v/id && chown 0:0 /v/id && chmod 4755 /v/id',
  ]);
  const mountpoint = ok(['volume', 'inspect', '-f', '{{.Mountpoint}}', 'loot']).trim();
  const file = path.join(mountpoint, 'id');
  // It is there, setuid root (the guest's own view of its volume is the host's).
  const st = fs.statSync(file);
  expect([st.uid, st.mode & 0o4000]).toEqual([0, 0o4000]);
  // Not reachable by a host user: the data root is root's alone.
  const run = asNobody([file, '-u']);
  expect(run.out).toBe('');
  expect(run.err).toMatch(/Permission denied/);
  expect(run.status).not.toBe(0);
  expect(fs.statSync(d.dataRoot).mode & 0o777).toBe(0o700);
  // The same program unchanged runs for nobody as nobody (the check above is not vacuous).
  expect(asNobody([path.join(bind, 'id'), '-u'])).toMatchObject({ out: '65534', status: 0 });
});

test('guest root cannot make a device node in a volume or a bind mount', () => {
  const out = ok([
    'run',
    '--rm',
    '--privileged',
    '-v',
    'loot:/v',
    '-v',
    `${bind}:/b`,
    IMAGE,
    'sh',
    '-c',
    'for p in /v/mem /b/mem /v/sda; do mknod $p c 1 1 2>/dev/null; echo "$p=$?"; done',
  ]);
  expect(out.trim().split('\n')).toEqual(['/v/mem=1', '/b/mem=1', '/v/sda=1']);
  const mountpoint = ok(['volume', 'inspect', '-f', '{{.Mountpoint}}', 'loot']).trim();
  for (const f of [path.join(mountpoint, 'mem'), path.join(bind, 'mem'), path.join(mountpoint, 'sda')])
    expect({ f, exists: fs.existsSync(f) }).toEqual({ f, exists: false });
});
