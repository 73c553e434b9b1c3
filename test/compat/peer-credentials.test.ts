/**
 * A host service reached from a container through a relayed unix socket sees the container
 * process's credentials, as under runc: SO_PEERCRED of the connection, read by a python3
 * service on the host (test/helpers/peercred-server.ts), through the stock docker CLI against
 * the real daemon (real QEMU VMs, our guest kernel) and against the baseline dockerd + runc,
 * for the same commands:
 *  - a socket bind (`-v HOST.sock:/run/x.sock`) and a socket in a bind-mounted directory
 *    (`-v DIR:/srv`, /srv/x.sock);
 *  - as `-u 1000` and as root;
 *  - a socket of mode 0700 owned by root: refused for `-u 1000` (EACCES, "Permission denied"),
 *    reached by root; a socket of mode 0770 owned by group 2000 in the directory: reached by
 *    `-u 1000:1000 --group-add 2000` (a supplementary group), refused for `-u 1000`.
 * And the other way: a server in the container listening on sockets in a bind-mounted
 * directory (perl, SO_PEERCRED and SO_PEERGROUPS) sees the host client's uid, gid and groups
 * (a python3 client on the host as 1000:1000 with group 2000, and as root), and a socket of
 * mode 0700 refuses uid 1000, as under runc, where the host client connects itself.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { BaselineDockerd } from '../../bench/common';
import type { TestDaemon } from '../helpers/daemon';
import { fixtureRegistry } from '../fixtures/registry';
import { onBoth, startBesideBaseline, stopBesideBaseline } from '../helpers/beside-baseline';
import { dockerCli } from '../helpers/docker-cli';
import { startPeercredServer, type PeercredServer } from '../helpers/peercred-server';

jest.setTimeout(600000);

const DEBIAN = `${fixtureRegistry()}/debian:bookworm`;

let d: TestDaemon;
let base: BaselineDockerd | undefined;
let dir: string;
const servers: PeercredServer[] = [];

/** perl: for each socket path argument, `PATH uid=U gid=G` (what the service saw) or `PATH <connect error>`. */
const CLIENT =
  'for $p (@ARGV) { $s = IO::Socket::UNIX->new(Peer => $p); ' +
  'if ($s) { $l = <$s>; $l = "closed\\n" unless defined $l; print "$p $l" } else { print "$p $!\\n" } }';

/** The sockets: name, mode, group. */
const SOCKETS: [string, number, number][] = [
  ['open.sock', 0o777, 0],
  ['root-only.sock', 0o700, 0],
  ['group.sock', 0o770, 2000],
];

beforeAll(async () => {
  ({ d, base, dir } = await startBesideBaseline('pv-peercred-', {}, [DEBIAN]));
  const srv = path.join(dir, 'srv');
  fs.mkdirSync(srv, { mode: 0o755 });
  fs.chmodSync(srv, 0o755);
  for (const [name, mode, gid] of SOCKETS)
    for (const at of [dir, srv]) {
      const s = await startPeercredServer(path.join(at, name), mode);
      servers.push(s);
      fs.chownSync(s.path, 0, gid);
    }
});

afterAll(async () => {
  for (const s of servers.splice(0)) await s.stop();
  await stopBesideBaseline({ d, base, dir });
});

/** What the client prints on both daemons, run with `user` flags: [podvisor's, the baseline's]. */
async function both(user: string[]): Promise<[string, string]> {
  const binds = SOCKETS.flatMap(([name]) => ['-v', `${path.join(dir, name)}:/run/${name}`]);
  const args = [
    'run',
    '--rm',
    ...user,
    ...binds,
    '-v',
    `${path.join(dir, 'srv')}:/srv`,
    DEBIAN,
    'perl',
    '-MIO::Socket::UNIX',
    '-e',
    CLIENT,
    ...SOCKETS.flatMap(([name]) => [`/run/${name}`, `/srv/${name}`]),
  ];
  const [ours, theirs] = await onBoth(d, base!, args);
  expect({ code: ours.code, err: ours.err }).toEqual({ code: 0, err: '' });
  expect(theirs.code).toBe(0);
  return [ours.out.trim(), theirs.out.trim()];
}

test('-u 1000: the host service sees uid 1000 through a socket bind and a socket in a directory; root-only sockets are refused', async () => {
  const [ours, theirs] = await both(['-u', '1000']);
  expect(ours).toBe(theirs);
  expect(ours.split('\n')).toEqual(
    expect.arrayContaining([
      '/run/open.sock uid=1000 gid=0',
      '/srv/open.sock uid=1000 gid=0',
      '/run/root-only.sock Permission denied',
      '/srv/root-only.sock Permission denied',
      '/srv/group.sock Permission denied',
    ]),
  );
});

test('root: the host service sees uid 0 everywhere, a root-only socket included', async () => {
  const [ours, theirs] = await both([]);
  expect(ours).toBe(theirs);
  expect(ours.split('\n')).toEqual(
    expect.arrayContaining(['/run/open.sock uid=0 gid=0', '/srv/root-only.sock uid=0 gid=0']),
  );
});

test('-u 1000:1000 --group-add 2000: a socket of group 2000 is reached through the supplementary group', async () => {
  const [ours, theirs] = await both(['-u', '1000:1000', '--group-add', '2000']);
  expect(ours).toBe(theirs);
  expect(ours.split('\n')).toEqual(
    expect.arrayContaining(['/srv/group.sock uid=1000 gid=1000', '/run/open.sock uid=1000 gid=1000']),
  );
});

/**
 * perl, in the container: listens at /in/open.sock (mode 0777) and /in/root-only.sock (0700),
 * then makes /in/ready; to each client it writes `uid=U gid=G groups=G1,G2...` (SO_PEERCRED and
 * SO_PEERGROUPS, 59, of the connection) and closes it.
 */
const SERVER =
  'use IO::Socket::UNIX; use IO::Select; use Socket; ' +
  'for ([q(open.sock), 0777], [q(root-only.sock), 0700]) { my ($n, $m) = @$_; unlink "/in/$n"; ' +
  'my $l = IO::Socket::UNIX->new(Local => "/in/$n", Listen => 16) or die "$n: $!"; chmod $m, "/in/$n"; push @l, $l } ' +
  'open(R, ">/in/ready") or die; close R; $sel = IO::Select->new(@l); ' +
  'while (1) { for $l ($sel->can_read) { $c = $l->accept or next; ' +
  '($p, $u, $g) = unpack("iII", getsockopt($c, SOL_SOCKET, SO_PEERCRED)); ' +
  '@gr = unpack("I*", getsockopt($c, SOL_SOCKET, 59) // ""); ' +
  'print $c "uid=$u gid=$g groups=" . join(",", @gr) . "\n"; close $c } }';

/**
 * python3, on the host: as UID GID GROUPS (comma-separated; uid -1: as the test runs), once
 * DIR/ready is there, connects to each socket and prints `NAME <what the server wrote>`, or
 * `NAME <error>`; a socket not answering yet (refused, missing: a relay still being set up) is
 * tried again for up to a minute.
 */
const CLIENT_PY = `
import errno, os, socket, sys, time
d, uid, gid = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
if uid >= 0:
    os.setgroups([int(g) for g in sys.argv[4].split(',') if g]); os.setgid(gid); os.setuid(uid)
end = time.time() + 60
while not os.path.exists(d + '/ready') and time.time() < end:
    time.sleep(0.2)
for n in ('open.sock', 'root-only.sock'):
    while True:
        s = socket.socket(socket.AF_UNIX)
        try:
            s.connect(d + '/' + n)
            print(n, s.makefile().readline().strip() or 'closed')
            break
        except OSError as e:
            if e.errno in (errno.ECONNREFUSED, errno.ENOENT) and time.time() < end:
                time.sleep(0.2)
                continue
            print(n, os.strerror(e.errno))
            break
        finally:
            s.close()
`;

/** What the host client prints for the sockets in `at`, as `uid` (-1: as the test runs). */
function hostClient(at: string, uid: number, gid: number, groups: number[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const py = spawn('python3', ['-c', CLIENT_PY, at, String(uid), String(gid), groups.join(',')]);
    let out = '';
    let err = '';
    py.stdout.on('data', (b: Buffer) => (out += b.toString()));
    py.stderr.on('data', (b: Buffer) => (err += b.toString()));
    py.once('error', reject);
    py.once('exit', (code) => (code === 0 ? resolve(out.trim()) : reject(new Error(`client exited ${code}: ${err}`))));
  });
}

describe('a host client of a server in the container (a socket in a bind-mounted directory)', () => {
  /** The directory each daemon's container serves in. */
  const dirs: Record<'ours' | 'theirs', string> = { ours: '', theirs: '' };

  beforeAll(async () => {
    // The host client (uid 1000) reaches the directories through the suite's own.
    fs.chmodSync(dir, 0o711);
    for (const side of ['ours', 'theirs'] as const) {
      dirs[side] = path.join(dir, `in-${side}`);
      fs.mkdirSync(dirs[side], { mode: 0o755 });
      fs.chmodSync(dirs[side], 0o755);
    }
    const started = await Promise.all(
      (['ours', 'theirs'] as const).map((side) =>
        dockerCli(side === 'ours' ? d : base!, [
          'run',
          '-d',
          '--name',
          'pv-peercred-server',
          '-v',
          `${dirs[side]}:/in`,
          DEBIAN,
          'perl',
          '-e',
          SERVER,
        ]),
      ),
    );
    for (const r of started) expect({ code: r.code, err: r.err }).toEqual({ code: 0, err: '' });
  });

  afterAll(async () => {
    await Promise.all([d, base!].map((x) => dockerCli(x, ['rm', '-f', 'pv-peercred-server'])));
  });

  test('as 1000:1000 with group 2000: the server sees uid 1000, gid 1000, groups 2000; a 0700 socket refuses', async () => {
    const [ours, theirs] = await Promise.all([
      hostClient(dirs.ours, 1000, 1000, [2000]),
      hostClient(dirs.theirs, 1000, 1000, [2000]),
    ]);
    expect(ours).toBe(theirs);
    expect(ours.split('\n')).toEqual(['open.sock uid=1000 gid=1000 groups=2000', 'root-only.sock Permission denied']);
  });

  test("as root: the server sees the client's uid 0 and its groups, the 0700 socket included", async () => {
    const [ours, theirs] = await Promise.all([hostClient(dirs.ours, -1, 0, []), hostClient(dirs.theirs, -1, 0, [])]);
    expect(ours).toBe(theirs);
    expect(ours).toMatch(/^open\.sock uid=0 gid=0 groups=\S*\nroot-only\.sock uid=0 gid=0 groups=\S*$/);
  });
});
