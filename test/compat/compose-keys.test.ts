/**
 * Compose keys that map to `docker run` flags (issue 41's audit, the compose half), through
 * Debian's docker-compose 1.29: one project, brought up with `docker-compose up -d` on
 * podvisor and on the baseline dockerd 20.10 + runc, then for each key the same observation
 * through `docker-compose exec` on both, expected equal: init, ulimits, sysctls, shm_size,
 * tmpfs, read_only, group_add, domainname, dns_search, dns_opt, cap_add, security_opt,
 * stop_grace_period and extra_hosts.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { startDaemon, stopDaemonLeavingNothing, type TestDaemon } from '../helpers/daemon';
import { fixtureRegistry } from '../fixtures/registry';
import { dockerCli, type CliResult } from '../helpers/docker-cli';
import { startDockerd, type BaselineDockerd } from '../../bench/common';

jest.setTimeout(600000);

const REG = fixtureRegistry();
const IMAGE = `${REG}/busybox:latest`;
const PROJECT = 'pvkeys';

/** The project: one service carrying every key, its command a shell that ignores SIGTERM. */
const COMPOSE_FILE = `version: "2.4"
services:
  app:
    image: ${IMAGE}
    command: ["sh", "-c", "trap '' TERM; echo ready; while :; do sleep 1; done"]
    init: true
    ulimits:
      nofile: { soft: 2048, hard: 4096 }
      nproc: { soft: 1000, hard: 2000 }
    sysctls:
      net.core.somaxconn: "1024"
      kernel.msgmax: "65536"
    shm_size: 96m
    tmpfs:
      - /run/app:size=65536k,mode=1770
    read_only: true
    user: "1000:1000"
    group_add: ["10", "4321"]
    domainname: example.test
    dns_search: [one.test, two.test]
    dns_opt: ["ndots:2", "timeout:3"]
    cap_add: [NET_ADMIN, SYS_TIME]
    security_opt: ["no-new-privileges:true"]
    stop_grace_period: 2s
    extra_hosts:
      - "db.test:10.1.2.3"
      - "v6.test:fd00::7"
`;

let d: TestDaemon;
let base: BaselineDockerd | undefined;
let dir: string;

/** `docker-compose -p PROJECT ARGS` in the project's directory against one daemon. */
function compose(daemon: { env: NodeJS.ProcessEnv }, args: string[]): Promise<CliResult> {
  return new Promise((resolve) => {
    const child = spawn('docker-compose', ['-p', PROJECT, ...args], {
      cwd: dir,
      env: daemon.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr.on('data', (b: Buffer) => (err += b.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 300000);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, out, err });
    });
  });
}

/** The same `docker-compose exec -T app sh -c SCRIPT` on podvisor and on the baseline. */
async function both(script: string): Promise<[CliResult, CliResult]> {
  const args = ['exec', '-T', 'app', 'sh', '-c', script];
  return Promise.all([compose(d, args), compose(base!, args)]);
}

/** Both daemons give the same answer to SCRIPT: that answer. */
async function same(script: string): Promise<CliResult> {
  const [ours, theirs] = await both(script);
  expect(ours).toEqual(theirs);
  return ours;
}

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pv-compose-keys-'));
  fs.writeFileSync(path.join(dir, 'docker-compose.yml'), COMPOSE_FILE);
  d = await startDaemon({ vmPoolSize: 1 });
  base = await startDockerd(path.join(dir, 'dockerd'));
  for (const daemon of [d, base]) {
    expect((await dockerCli(daemon, ['pull', '-q', IMAGE])).code).toBe(0);
    const up = await compose(daemon, ['up', '-d']);
    expect(up).toMatchObject({ code: 0 });
    // The command's trap is set once the logs say "ready".
    while (!(await compose(daemon, ['logs', '--no-color', 'app'])).out.includes('ready')) {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
});

afterAll(async () => {
  for (const daemon of [d, base]) if (daemon) await compose(daemon, ['down', '--timeout', '1']);
  await base?.stop().catch(() => undefined);
  if (d) await stopDaemonLeavingNothing(d);
  fs.rmSync(dir, { recursive: true, force: true });
});

test('init: PID 1 is docker-init, the command its child', async () => {
  expect((await same('cat /proc/1/comm; cat /proc/1/cmdline | tr "\\0" " "; echo')).out).toBe(
    "docker-init\n/sbin/docker-init -- sh -c trap '' TERM; echo ready; while :; do sleep 1; done \n",
  );
});

test("ulimits: the init's soft and hard limits", async () => {
  // /proc/1/limits, not an exec's own: under dockerd an exec's soft open-files limit varies
  // with runc's (test/compat/run-flags.test.ts).
  const r = await same('grep -E "^Max (open files|processes)" /proc/1/limits');
  expect(r.out).toMatch(/^Max processes +1000 +2000 +processes/m);
  expect(r.out).toMatch(/^Max open files +2048 +4096 +files/m);
});

test('sysctls: the values in the namespace', async () => {
  const r = await same('cat /proc/sys/net/core/somaxconn /proc/sys/kernel/msgmax');
  expect(r.out).toBe('1024\n65536\n');
});

test('shm_size: the size of /dev/shm', async () => {
  expect((await same("df -k /dev/shm | tail -n 1 | awk '{print $2}'")).out).toBe('98304\n');
});

test('tmpfs: the mount, its size, mode and flags', async () => {
  // The source column is left out: the guest agent mounts a tmpfs through fsopen, which names
  // no source ("none" where runc's mount(2) says "tmpfs"; test/compat/run-flags.test.ts).
  const r = await same("grep ' /run/app ' /proc/mounts | cut -d' ' -f2-; stat -c %a /run/app");
  expect(r.out).toBe('/run/app tmpfs rw,nosuid,nodev,noexec,relatime,size=65536k,mode=1770 0 0\n1770\n');
});

test('read_only: the root filesystem refuses a write; /dev/shm takes one', async () => {
  // (The tmpfs above, mode 1770 and root's, refuses user 1000 on both.)
  const r = await same('touch /x; echo "root $?"; touch /dev/shm/x; echo "shm $?"; touch /run/app/x; echo "tmpfs $?"');
  expect(r.out).toBe('root 1\nshm 0\ntmpfs 1\n');
  expect(r.err).toContain('Read-only file system');
});

test('user and group_add: the ids of an exec and of the init', async () => {
  const r = await same('id; grep -E "^(Uid|Gid|Groups)" /proc/1/status');
  expect(r.out).toMatch(/^uid=1000\(user\) gid=1000\(user\) groups=10,1000\(user\),4321$/m);
});

test('domainname: the UTS domain name', async () => {
  expect((await same('cat /proc/sys/kernel/domainname')).out).toBe('example.test\n');
});

test('dns_search and dns_opt: the search and options lines of /etc/resolv.conf', async () => {
  // The nameserver lines differ: each daemon gives a container on a user network its own
  // resolver's address.
  const r = await same('grep -E "^(search|options)" /etc/resolv.conf');
  expect(r.out).toMatch(/^search one\.test two\.test$/m);
  expect(r.out).toMatch(/^options .*ndots:2/m);
  expect(r.out).toMatch(/^options .*timeout:3/m);
});

test('cap_add: the capabilities of the init and of an exec', async () => {
  // NET_ADMIN is bit 12, SYS_TIME bit 25: both added to Docker's default set.
  const r = await same('grep -E "^Cap(Inh|Prm|Eff|Bnd|Amb)" /proc/1/status; grep CapBnd /proc/self/status');
  const bnd = BigInt(`0x${/^CapBnd:\s+([0-9a-f]+)/m.exec(r.out)![1]}`);
  expect(bnd & (1n << 12n)).toBe(1n << 12n);
  expect(bnd & (1n << 25n)).toBe(1n << 25n);
});

test('security_opt no-new-privileges: NoNewPrivs in the init and in an exec', async () => {
  const r = await same('grep NoNewPrivs /proc/1/status /proc/self/status | sed "s|/proc/[a-z0-9]*/||"');
  expect(r.out).toBe('status:NoNewPrivs:\t1\nstatus:NoNewPrivs:\t1\n');
});

test('extra_hosts: lines of /etc/hosts', async () => {
  const r = await same('grep -E "db.test|v6.test" /etc/hosts');
  expect(r.out).toBe('10.1.2.3\tdb.test\nfd00::7\tv6.test\n');
});

test('stop_grace_period: docker-compose stop kills a command that ignores SIGTERM after the grace period', async () => {
  const got: Array<{ code: number; exit: string; took: boolean }> = [];
  for (const daemon of [d, base!]) {
    const start = Date.now();
    const stop = await compose(daemon, ['stop', 'app']);
    const took = Date.now() - start;
    const exit = (await dockerCli(daemon, ['inspect', '-f', '{{.State.ExitCode}}', `${PROJECT}_app_1`])).out;
    // A generous bound, below docker-compose's default 10 s: the grace period (2 s) ended it.
    got.push({ code: stop.code, exit, took: took >= 2000 && took < 9500 });
  }
  expect(got[0]).toEqual(got[1]);
  expect(got[0]).toEqual({ code: 0, exit: '137\n', took: true });
});
