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
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { BaselineDockerd } from '../../bench/common';
import type { TestDaemon } from '../helpers/daemon';
import { fixtureRegistry } from '../fixtures/registry';
import { onBoth, startBesideBaseline, stopBesideBaseline } from '../helpers/beside-baseline';
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
