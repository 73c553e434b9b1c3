/**
 * A container's security settings through the stock docker CLI, in real VMs, beside the
 * baseline dockerd 20.10 + runc (its own network namespace) where it can run the same thing:
 * capabilities (dockerd's default set, --cap-add/--cap-drop with ALL, a non-root user,
 * --privileged and `exec --privileged`), `--security-opt no-new-privileges`, `--read-only`,
 * Docker's masked and read-only /proc and /sys paths (and `systempaths=unconfined`), and
 * `--sysctl`, with dockerd's words for what it refuses.
 *
 * The baseline cannot run a privileged container on this host (its root lacks capabilities
 * such as CAP_SYS_RESOURCE: runc fails "unable to apply caps"), so those are checked against
 * what dockerd's rules give.
 */
import type { TestDaemon } from '../helpers/daemon';
import { fixtureRegistry } from '../fixtures/registry';
import { dockerCli, pinnedAt, type CliResult } from '../helpers/docker-cli';
import { besideDockerd26 } from '../helpers/baseline-choice';
import type { BaselineDockerd } from '../../bench/common';
import { startBesideBaseline, stopBesideBaseline } from '../helpers/beside-baseline';

jest.setTimeout(600000);

const REG = fixtureRegistry();
const IMAGE = `${REG}/busybox:latest`;
/** dockerd's default set: CHOWN DAC_OVERRIDE FOWNER FSETID KILL SETGID SETUID SETPCAP NET_BIND_SERVICE NET_RAW SYS_CHROOT MKNOD AUDIT_WRITE SETFCAP. */
const DEFAULT_CAPS = '00000000a80425fb';
/** Every capability dockerd 20.10 knows (0..37, CAP_AUDIT_READ). */
const ALL_CAPS = '0000003fffffffff';

let d: TestDaemon;
let base: BaselineDockerd | undefined;
let dir: string;

beforeAll(async () => {
  ({ d, base, dir } = await startBesideBaseline('pv-security-', { vmPoolSize: 2 }, [IMAGE]));
});

afterAll(() => stopBesideBaseline({ d, base, dir }));

/** `docker run --rm ARGS` on podvisor and on the baseline. */
async function both(args: string[]): Promise<[CliResult, CliResult]> {
  return Promise.all([dockerCli(d, ['run', '--rm', ...args]), dockerCli(base!, ['run', '--rm', ...args])]);
}

/** The Cap* and NoNewPrivs lines of /proc/self/status. */
const STATUS = ['sh', '-c', 'grep -E "^(Cap|NoNewPrivs)" /proc/self/status'];

test("a container gets dockerd's default capabilities, in the sets runc gives (root and a non-root user)", async () => {
  const [ours, theirs] = await both([IMAGE, ...STATUS]);
  expect(ours).toMatchObject({ code: 0, out: theirs.out });
  expect(ours.out).toContain(`CapEff:\t${DEFAULT_CAPS}\n`);
  expect(ours.out).toContain('CapInh:\t0000000000000000\n');
  const [user, theirUser] = await both(['-u', '1000', IMAGE, ...STATUS]);
  expect(user).toMatchObject({ code: 0, out: theirUser.out });
  expect(user.out).toContain('CapEff:\t0000000000000000\n');
  expect(user.out).toContain(`CapBnd:\t${DEFAULT_CAPS}\n`);
});

test('--cap-add and --cap-drop, with and without CAP_, any case, ALL', async () => {
  const script = 'ip addr add 10.9.9.9/32 dev lo && echo added; grep -E "^Cap(Eff|Bnd)" /proc/self/status';
  for (const flags of [[], ['--cap-add', 'net_admin', '--cap-drop', 'CAP_CHOWN'], ['--cap-drop', 'ALL']]) {
    const [ours, theirs] = await both([...flags, IMAGE, 'sh', '-c', script]);
    expect({ flags, ...ours }).toEqual({ flags, ...theirs });
  }
  const added = await dockerCli(d, ['run', '--rm', '--cap-add', 'NET_ADMIN', IMAGE, 'sh', '-c', script]);
  expect(added.out).toContain('added\n');
  const none = await dockerCli(d, ['run', '--rm', '--cap-drop', 'all', '--cap-add', 'kill', IMAGE, ...STATUS]);
  expect(none.out).toContain('CapEff:\t0000000000000020\n');
  const all = await dockerCli(d, ['run', '--rm', '--cap-add', 'ALL', '--cap-drop', 'sys_admin', IMAGE, ...STATUS]);
  expect(all.out).toContain('CapEff:\t0000003fffdfffff\n');
});

test("unknown capabilities and security options are refused with dockerd's words and status", async () => {
  for (const flags of [
    ['--cap-add', 'foo'],
    ['--cap-drop', 'CAP_BPF'],
    ['--security-opt', 'foo'],
    ['--security-opt', 'no-new-privileges:maybe'],
    ['--security-opt', 'systempaths=open'],
  ]) {
    const [ours, theirs] = await Promise.all([
      dockerCli(d, ['create', ...flags, IMAGE, 'true']),
      dockerCli(base!, ['create', ...flags, IMAGE, 'true']),
    ]);
    expect(ours.code).not.toBe(0);
    expect({ flags, code: ours.code, err: ours.err }).toEqual({ flags, code: theirs.code, err: theirs.err });
  }
});

test('--privileged and exec --privileged get every capability; a plain exec the container’s set', async () => {
  const run = await dockerCli(d, ['run', '-d', '--name', 'execs', '--cap-drop', 'NET_RAW', IMAGE, 'sleep', '1000']);
  expect(run.code).toBe(0);
  try {
    const plain = await dockerCli(d, ['exec', 'execs', ...STATUS]);
    expect(plain.out).toContain('CapEff:\t00000000a80405fb\n');
    const user = await dockerCli(d, ['exec', '-u', '1000', 'execs', ...STATUS]);
    expect(user.out).toContain('CapEff:\t0000000000000000\n');
    const priv = await dockerCli(d, ['exec', '--privileged', 'execs', ...STATUS]);
    expect(priv.out).toContain(`CapEff:\t${ALL_CAPS}\n`);
    expect(priv.out).toContain(`CapInh:\t${ALL_CAPS}\n`);
  } finally {
    await dockerCli(d, ['rm', '-f', 'execs']);
  }
  const p = await dockerCli(d, [
    'run',
    '--rm',
    '--privileged',
    IMAGE,
    'sh',
    '-c',
    'grep CapEff /proc/self/status; grep -E " /sys |/proc/keys|/proc/sys " /proc/mounts; ip addr add 10.9.9.9/32 dev lo && echo added',
  ]);
  expect(p.out).toContain(`CapEff:\t${ALL_CAPS}\n`);
  expect(p.out).toMatch(/^sysfs \/sys sysfs rw,/m);
  expect(p.out).not.toContain('/proc/keys');
  expect(p.out).not.toContain('/proc/sys ');
  expect(p.out).toContain('added\n');
});

test("a privileged container makes bridges, veth pairs, dummy links and tun devices of its VM's kernel; a plain one may not", async () => {
  // critest's "Privileged is true" and "adding capability" run `brctl addbr`: the guest kernel
  // has bridge, veth, dummy and tun support (guest/kernel/podvisor.config) for them.
  const script = [
    'brctl addbr pvbr0 && echo bridge',
    'ip link add pva type veth peer name pvb && echo veth',
    'ip link add pvd0 type dummy && echo dummy',
    // the container's /dev has no net/tun (limitations.md); a privileged one may make it
    'mkdir -p /dev/net && mknod /dev/net/tun c 10 200 && tunctl -t pvtun0 >/dev/null && echo tun',
    'brctl addif pvbr0 pva && [ -e /sys/class/net/pvbr0/brif/pva ] && echo joined',
  ].join('; ');
  const p = await dockerCli(d, ['run', '--rm', '--privileged', IMAGE, 'sh', '-c', script]);
  expect(p.out).toBe('bridge\nveth\ndummy\ntun\njoined\n');
  const [plain, baseline] = await both([IMAGE, 'sh', '-c', 'brctl addbr pvbr0 && echo bridge']);
  expect(plain.out).not.toContain('bridge');
  expect(plain.err).toMatch(/Operation not permitted/);
  expect(baseline.err).toMatch(/Operation not permitted/);
  const admin = await dockerCli(d, [
    'run',
    '--rm',
    '--cap-add',
    'NET_ADMIN',
    IMAGE,
    'sh',
    '-c',
    'brctl addbr pvbr0 && echo bridge',
  ]);
  expect(admin.out).toBe('bridge\n');
});

test('--security-opt no-new-privileges sets NoNewPrivs, for the execs too', async () => {
  for (const opt of ['no-new-privileges', 'no-new-privileges:true', 'no-new-privileges=false']) {
    const [ours, theirs] = await both(['--security-opt', opt, IMAGE, 'grep', 'NoNewPrivs', '/proc/self/status']);
    expect({ opt, ...ours }).toEqual({ opt, ...theirs });
  }
  expect(
    (await dockerCli(d, ['run', '-d', '--name', 'nnp', '--security-opt', 'no-new-privileges', IMAGE, 'sleep', '1000']))
      .code,
  ).toBe(0);
  try {
    expect((await dockerCli(d, ['exec', 'nnp', 'grep', 'NoNewPrivs', '/proc/self/status'])).out).toBe(
      'NoNewPrivs:\t1\n',
    );
  } finally {
    await dockerCli(d, ['rm', '-f', 'nnp']);
  }
});

test('--read-only: the root and its /etc files read-only, /dev, /dev/shm, tmpfs and volumes writable', async () => {
  const script =
    'touch /x; touch /tmp/x; echo a >> /etc/hosts; echo b > /etc/resolv.conf; touch /dev/shm/x && echo shm; touch /dev/x && echo dev; touch /data/x && echo volume';
  const [ours, theirs] = await both(['--read-only', '-v', '/data', IMAGE, 'sh', '-c', script]);
  expect(ours).toEqual(theirs);
  expect(ours.err).toContain('touch: /x: Read-only file system');
  const tmp = await dockerCli(d, [
    'run',
    '--rm',
    '--read-only',
    '--tmpfs',
    '/tmp',
    IMAGE,
    'sh',
    '-c',
    'touch /tmp/x && echo tmp',
  ]);
  expect(tmp).toMatchObject({ code: 0, out: 'tmp\n' });
  // The host still writes the container's hosts files at each start.
  const again = await dockerCli(d, [
    'run',
    '--rm',
    '--read-only',
    '--hostname',
    'ro-host',
    IMAGE,
    'cat',
    '/etc/hostname',
  ]);
  expect(again.out).toBe('ro-host\n');
});

test("Docker's masked and read-only paths; none with systempaths=unconfined", async () => {
  const script =
    'cat /proc/timer_list | wc -c; ls /sys/firmware | wc -l; echo 1 > /proc/sys/kernel/shmmax; touch /sys/firmware/x; grep -cE "/proc/timer_list|/sys/firmware|/proc/sys " /proc/mounts';
  const masked = await dockerCli(d, ['run', '--rm', IMAGE, 'sh', '-c', script]);
  expect(masked.out).toBe('0\n0\n3\n');
  expect(masked.err).toContain("can't create /proc/sys/kernel/shmmax: Read-only file system");
  expect(masked.err).toContain('touch: /sys/firmware/x: Read-only file system');
  const open = await dockerCli(d, [
    'run',
    '--rm',
    '--security-opt',
    'systempaths=unconfined',
    IMAGE,
    'sh',
    '-c',
    script,
  ]);
  expect(open.out).toMatch(/^[1-9]\d*\n\d+\n0\n$/);
  expect(open.err).not.toContain('/proc/sys/kernel/shmmax');
  // podvisor at the baseline's API version: the default masked paths are dockerd 26's from 1.42.
  const pv = besideDockerd26() ? d : pinnedAt(d, '1.41');
  const [ours, theirs] = await Promise.all([
    dockerCli(pv, ['create', '--name', 'paths', '--security-opt', 'systempaths=unconfined', IMAGE]),
    dockerCli(base!, ['create', '--name', 'paths', '--security-opt', 'systempaths=unconfined', IMAGE]),
  ]);
  expect([ours.code, theirs.code]).toEqual([0, 0]);
  const fmt = [
    'inspect',
    '-f',
    '{{json .HostConfig.MaskedPaths}} {{json .HostConfig.ReadonlyPaths}} {{json .HostConfig.SecurityOpt}}',
    'paths',
  ];
  expect((await dockerCli(d, fmt)).out).toBe((await dockerCli(base!, fmt)).out);
  const plain = ['inspect', '-f', '{{json .HostConfig.MaskedPaths}} {{json .HostConfig.ReadonlyPaths}}', 'plain'];
  await Promise.all([
    dockerCli(pv, ['create', '--name', 'plain', IMAGE]),
    dockerCli(base!, ['create', '--name', 'plain', IMAGE]),
  ]);
  expect((await dockerCli(d, plain)).out).toBe((await dockerCli(base!, plain)).out);
  await Promise.all([dockerCli(d, ['rm', 'paths', 'plain']), dockerCli(base!, ['rm', 'paths', 'plain'])]);
});

test('--sysctl is written in the VM before the command runs; what runc refuses fails the start as there', async () => {
  const [ours, theirs] = await both([
    '--sysctl',
    'net.ipv4.ip_forward=1',
    '--sysctl',
    'kernel.shmmax=1000000',
    IMAGE,
    'cat',
    '/proc/sys/net/ipv4/ip_forward',
    '/proc/sys/kernel/shmmax',
  ]);
  expect(ours).toEqual(theirs);
  expect(ours.out).toBe('1\n1000000\n');
  // The CLI refuses kernel.foo itself; through the API it is runc's refusal at start, in runc's
  // words (dockerd puts "failed to create shim task: ..." before them), with dockerd's status
  // and exit code (a missing key is "no such file or directory": its 400 and 127).
  for (const [key, value, words, status, exitCode] of [
    ['kernel.foo', '1', 'sysctl "kernel.foo" is not in a separate kernel namespace: unknown', 500, 128],
    [
      'net.ipv4.nonexistent',
      '1',
      'unable to start container process: error during container init: open /proc/sys/net/ipv4/nonexistent: no such file or directory: unknown',
      400,
      127,
    ],
    [
      'net.ipv4.ip_forward',
      'yes',
      'unable to start container process: error during container init: write /proc/sys/net/ipv4/ip_forward: invalid argument: unknown',
      500,
      128,
    ],
  ] as const) {
    const body = { Image: IMAGE, Cmd: ['true'], HostConfig: { Sysctls: { [key]: value } } };
    for (const daemon of [d, base!]) {
      const socket = (daemon.env.DOCKER_HOST as string).replace(/^unix:\/\//, '');
      const created = await fetchJson(socket, '/containers/create', body);
      expect(created.status).toBe(201);
      const id = (created.body as { Id: string }).Id;
      const start = await fetchJson(socket, `/containers/${id}/start`, {});
      expect({ key, ours: daemon === d, status: start.status }).toEqual({ key, ours: daemon === d, status });
      expect((start.body as { message: string }).message).toContain(words);
      const inspect = await dockerCli(daemon, ['inspect', '-f', '{{.State.ExitCode}} {{.State.Error}}', id]);
      expect(inspect.out).toMatch(new RegExp(`^${exitCode} .*${words.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\n$`));
      await dockerCli(daemon, ['rm', id]);
    }
  }
});

/** POST a JSON body to the daemon's API. */
async function fetchJson(socket: string, p: string, body: unknown): Promise<{ status: number; body: unknown }> {
  const http = await import('node:http');
  return new Promise((resolve, reject) => {
    const req = http.request(
      { socketPath: socket, path: `/v1.41${p}`, method: 'POST', headers: { 'Content-Type': 'application/json' } },
      (res) => {
        let data = '';
        res.on('data', (c: Buffer) => (data += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: data ? JSON.parse(data) : undefined }));
      },
    );
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}
