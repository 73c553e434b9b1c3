/**
 * `docker run` flags that podvisor accepted and did not honour, each run through the
 * stock docker CLI on podvisor and on both baselines, dockerd 20.10 and dockerd 26.1 (each +
 * runc), with the same command and the same observable result; one run compares podvisor's
 * answer with both:
 *  - `--init`: PID 1 is docker-init, the command its child; orphans are reaped; a signal to the
 *    container reaches the command, and the container exits with the command's status;
 *  - `--ulimit` of every type: /proc/self/limits of the init and of an exec;
 *  - `--domainname`: the UTS domain name;
 *  - a non-root user binds port 80 and may ping (dockerd's default sysctls of a container's own
 *    network namespace), unless the user set the sysctl;
 *  - then the flags of the audit (test/audit/run-flags.ts) that real run lines and compose
 *    files carry, each beside dockerd: mounts, names, users, environment, resources, signals,
 *    health checks, restart, logging, volumes;
 *  - and those a VM cannot honour, refused at create by name (dockerd runs them).
 */
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import type { TestDaemon } from '../helpers/daemon';
import { fixtureRegistry } from '../fixtures/registry';
import { dockerCli, pinnedAt, type CliResult } from '../helpers/docker-cli';
import { testIf } from '../helpers/skip';
import type { BaselineDockerd } from '../../bench/common';
import {
  expectSameAsEach,
  onEach,
  startBesideBaselines,
  stopBesideBaselines,
  type NamedBaseline,
} from '../helpers/beside-baseline';
import {
  BLKIO_WEIGHT_DEVICE_DISCARDED,
  BLKIO_WEIGHT_DISCARDED,
  hostBlkioWeightSupport,
} from '../../src/api/v1.41/docker/blkio-weight';

jest.setTimeout(600000);

const REG = fixtureRegistry();
const IMAGE = `${REG}/busybox:latest`;

let d: TestDaemon;
let bases: NamedBaseline[] = [];
let dir: string;

beforeAll(async () => {
  ({ d, bases, dir } = await startBesideBaselines('pv-run-flags-', { vmPoolSize: 2 }, [IMAGE]));
});

afterAll(() => stopBesideBaselines({ d, bases, dir }));

/** The baselines' daemons, dockerd 20.10's and dockerd 26.1's. */
const baseDaemons = (): BaselineDockerd[] => bases.map((b) => b.daemon);

/**
 * The same docker CLI command on podvisor (once) and on each baseline: podvisor's answer and
 * the baselines' (onEach: a baseline run's lost output is taken again).
 */
async function both(args: string[]): Promise<[CliResult, CliResult[]]> {
  return onEach(d, baseDaemons(), args);
}

/**
 * `body` on podvisor and on each baseline at once: each one's result, podvisor's first. Each
 * ends (its clean-up included) before the first failure, if any, is thrown.
 */
async function onEachDaemon<T>(body: (daemon: TestDaemon | BaselineDockerd) => Promise<T>): Promise<T[]> {
  const settled = await Promise.allSettled([d, ...baseDaemons()].map(body));
  for (const r of settled) if (r.status === 'rejected') throw r.reason;
  return settled.map((r) => (r as PromiseFulfilledResult<T>).value);
}

/** Expect podvisor's `ours` to equal each baseline's answer in `theirs`. */
function sameAsEach<T>(ours: T, theirs: T[]): void {
  expectSameAsEach(bases, ours, theirs);
}

/**
 * dockerd's side of an out-of-memory case. The host kernel's cgroup OOM killer picks `tail`
 * (the task that grew) and the shell prints "status 137", as ours does; but on a busy host a
 * second OOM kill sometimes comes before tail's memory is freed and takes the shell too, so
 * the container ends 137 with no output. Either is the kernel's choice, not dockerd's, so the
 * baseline may show either; ours must show the first (asserted by the caller). How many
 * "Killed" lines the shell prints is the kernel's choice too.
 */
function expectDockerdOomOutcome(theirs: CliResult, ours: CliResult): void {
  if (theirs.code === 137 && theirs.out === '') return;
  expect({ code: theirs.code, out: theirs.out }).toEqual({ code: ours.code, out: ours.out });
  // The shell prints "Killed" for each process of the pipeline the kernel killed: `tail`, and
  // sometimes `head` as well when a second OOM kill comes first. Either count, on either side.
  expect(theirs.err).toMatch(/^(Killed\n)+$/);
  expect(ours.err).toMatch(/^(Killed\n)+$/);
}

describe('--init', () => {
  test('PID 1 is docker-init and the command its child, as under dockerd', async () => {
    // PIDs other than 1 depend on what ran before in the namespace (runc's own steps): shown as N.
    const norm = (r: CliResult) => ({ ...r, out: r.out.replace(/^( *)([2-9]|\d\d+) /gm, '$1N ') });
    const [ours, theirs] = await both(['run', '--rm', '--init', IMAGE, 'ps', '-o', 'pid,ppid,comm']);
    sameAsEach(norm(ours), theirs.map(norm));
    expect(ours.out).toMatch(/^ +1 +0 docker-init$/m);
    expect(ours.out).toMatch(/^ +\d+ +1 ps$/m);
    const [plain] = await both(['run', '--rm', IMAGE, 'ps', '-o', 'pid,comm']);
    expect(plain.out).toMatch(/^ +1 ps$/m);
  });

  test("the init's binary is read-only to the container's root, as dockerd's docker-init", async () => {
    const script = 'echo x > /sbin/docker-init; echo "write $?"; cat /sbin/docker-init > /dev/null; echo "read $?"';
    const [ours, theirs] = await both(['run', '--rm', '--init', IMAGE, 'sh', '-c', script]);
    sameAsEach(ours, theirs);
    expect(ours.out).toBe('write 1\nread 0\n');
    expect(ours.err).toContain('Read-only file system');
  });

  test('an orphan is reaped by the init (no zombie is left)', async () => {
    // The orphan's parent exits at once; its /proc entry goes only when PID 1 reaps it.
    const script =
      'sh -c "sleep 0 & echo \\$! > /tmp/orphan"; p=$(cat /tmp/orphan); while [ -e /proc/$p ]; do usleep 20000; done; echo reaped';
    const [ours, theirs] = await both(['run', '--rm', '--init', IMAGE, 'sh', '-c', script]);
    sameAsEach(ours, theirs);
    expect(ours).toMatchObject({ code: 0, out: 'reaped\n' });
  });

  test("a stop's signal reaches the command, and the container exits with the command's status", async () => {
    const script = 'trap "echo got TERM; exit 3" TERM; echo ready; while :; do usleep 50000; done';
    const results: Array<{ code: string; logs: string }> = await onEachDaemon(async (daemon) => {
      const run = await dockerCli(daemon, ['run', '-d', '--init', IMAGE, 'sh', '-c', script]);
      expect(run).toMatchObject({ code: 0, err: '' });
      const id = run.out.trim();
      // Only once the trap is set: the logs say "ready" (waiting on output, not on time), as
      // long as the container runs.
      const running = async () =>
        (await dockerCli(daemon, ['inspect', '-f', '{{.State.Running}}', id])).out.trim() === 'true';
      while (!(await dockerCli(daemon, ['logs', id])).out.includes('ready') && (await running())) {
        await new Promise((r) => setImmediate(r));
      }
      expect((await dockerCli(daemon, ['stop', '-t', '60', id])).code).toBe(0);
      const code = (await dockerCli(daemon, ['inspect', '-f', '{{.State.ExitCode}}', id])).out.trim();
      const logs = (await dockerCli(daemon, ['logs', id])).out;
      await dockerCli(daemon, ['rm', '-f', id]);
      return { code, logs };
    });
    sameAsEach(results[0], results.slice(1));
    expect(results[0]).toEqual({ code: '3', logs: 'ready\ngot TERM\n' });
  });
});

describe('--ulimit', () => {
  // Every type Docker's --ulimit knows, each with a soft limit below its hard one, and no hard
  // limit above the one dockerd's processes have (runc 1.1 under dockerd 20.10 then fails the
  // start: "error setting rlimit type 12: operation not permitted", where podvisor's guest
  // sets it, as root, before it drops capabilities).
  const ULIMITS = [
    'core=1000000:2000000',
    'cpu=3600:7200',
    'data=1073741824:2147483648',
    'fsize=1073741824:2147483648',
    'locks=1000:2000',
    'memlock=65536:131072',
    'msgqueue=409600:819200',
    'nice=0:0',
    'nofile=2048:4096',
    'nproc=1000:2000',
    'rss=1000000:2000000',
    'rtprio=0:0',
    'rttime=1000000:2000000',
    'sigpending=1000:2000',
    'stack=8388608:16777216',
  ];
  const flags = ULIMITS.flatMap((u) => ['--ulimit', u]);

  test('the soft limit of nofile=2048:4096 is 2048 and its hard limit 4096, as under dockerd', async () => {
    const cmd = ['run', '--rm', '--ulimit', 'nofile=2048:4096', IMAGE, 'sh', '-c', 'ulimit -Sn; ulimit -Hn'];
    const [ours, theirs] = await both(cmd);
    sameAsEach(ours, theirs);
    expect(ours).toMatchObject({ code: 0, out: '2048\n4096\n' });
  });

  test("every type's soft and hard limit, in the init and in an exec, as under dockerd", async () => {
    const [ours, theirs] = await both(['run', '--rm', ...flags, IMAGE, 'cat', '/proc/self/limits']);
    sameAsEach(ours, theirs);
    expect(ours.out).toMatch(/^Max open files +2048 +4096 +files/m);
    expect(ours.out).toMatch(/^Max stack size +8388608 +16777216 +bytes/m);
    const execs: string[] = await onEachDaemon(async (daemon) => {
      const id = (await dockerCli(daemon, ['run', '-d', ...flags, IMAGE, 'sleep', '600'])).out.trim();
      const result = (await dockerCli(daemon, ['exec', id, 'cat', '/proc/self/limits'])).out;
      await dockerCli(daemon, ['rm', '-f', id]);
      return result;
    });
    expect(execs[0]).toEqual(ours.out);
    // Under dockerd an exec's soft open-files limit was once its hard one (4096), once the
    // container's (2048), in two runs of this test: runc (a Go program) raises its own soft
    // limit, and which one an exec inherits varies. podvisor gives an exec the container's
    // --ulimit, every row (docs/limitations.md); the other rows are dockerd's too.
    const openFiles = /^Max open files.*\n/m;
    sameAsEach(
      execs[0].replace(openFiles, ''),
      execs.slice(1).map((e) => e.replace(openFiles, '')),
    );
  });
});

test('--domainname is the UTS domain name', async () => {
  const cmd = ['run', '--rm', '--domainname', 'example.test', IMAGE, 'cat', '/proc/sys/kernel/domainname'];
  const [ours, theirs] = await both(cmd);
  sameAsEach(ours, theirs);
  expect(ours).toMatchObject({ code: 0, out: 'example.test\n' });
});

describe("dockerd's sysctls of a container's network namespace", () => {
  // Listens on 80 as the user; a client connects once it is up (or the listener has failed).
  const BIND_80 =
    'nc -l -p 80 -e echo bound-80 & l=$!; while kill -0 $l 2>/dev/null; do nc 127.0.0.1 80 </dev/null 2>/dev/null && break; usleep 50000; done; wait $l; echo "listener $?"';

  test('a non-root user binds port 80 and may ping, as under dockerd', async () => {
    const [ours, theirs] = await both(['run', '--rm', '--user', '1000', IMAGE, 'sh', '-c', BIND_80]);
    sameAsEach(ours, theirs);
    expect(ours).toMatchObject({ code: 0, out: 'bound-80\nlistener 0\n' });
    const sysctls = ['cat', '/proc/sys/net/ipv4/ip_unprivileged_port_start', '/proc/sys/net/ipv4/ping_group_range'];
    const [s, baseS] = await both(['run', '--rm', IMAGE, ...sysctls]);
    sameAsEach(s, baseS);
    expect(s.out).toBe('0\n0\t2147483647\n');
  });

  test("the user's own value wins", async () => {
    const cmd = ['run', '--rm', '--user', '1000', '--sysctl', 'net.ipv4.ip_unprivileged_port_start=1024'];
    const [ours, theirs] = await both([...cmd, IMAGE, 'sh', '-c', BIND_80]);
    sameAsEach(ours, theirs);
    expect(ours.out).toContain('listener 1\n');
    expect(ours.err).toContain('Permission denied');
  });
});

describe('flags common in run lines and compose files, beside dockerd', () => {
  /** Run `docker run --rm FLAGS IMAGE sh -c SCRIPT` on both daemons and expect the same. */
  async function same(flags: string[], script: string): Promise<CliResult> {
    const [ours, theirs] = await both(['run', '--rm', ...flags, IMAGE, 'sh', '-c', script]);
    sameAsEach(ours, theirs);
    return ours;
  }

  test('--tmpfs: the mount, its size, mode and flags', async () => {
    // The mount's source column is the one difference: the guest agent mounts the tmpfs through
    // fsopen, which names no source ("none" where runc's mount(2) says "tmpfs").
    const r = await same(
      ['--tmpfs', '/run/app:rw,size=65536k,mode=1770'],
      "grep ' /run/app ' /proc/mounts | cut -d' ' -f2-; stat -c %a /run/app",
    );
    expect(r.out).toBe('/run/app tmpfs rw,nosuid,nodev,noexec,relatime,size=65536k,mode=1770 0 0\n1770\n');
  });

  test('--shm-size: the size of /dev/shm (and its default)', async () => {
    // /proc/mounts differs: a --shm-size /dev/shm is mounted over the guest's own (two lines).
    const df = "df -k /dev/shm | tail -n 1 | awk '{print $2}'";
    expect((await same(['--shm-size', '96m'], df)).out).toBe('98304\n');
    expect((await same([], `${df}; grep ' /dev/shm ' /proc/mounts`)).out).toBe(
      '65536\nshm /dev/shm tmpfs rw,nosuid,nodev,noexec,relatime,size=65536k 0 0\n',
    );
  });

  test('--workdir: the directory, made when missing', async () => {
    expect((await same(['--workdir', '/srv/new/dir'], 'pwd; ls -ld . | cut -c1-10')).out).toBe(
      '/srv/new/dir\ndrwxr-xr-x\n',
    );
  });

  test('--add-host: a line of /etc/hosts', async () => {
    const r = await same(
      ['--add-host', 'db.test:10.1.2.3', '--add-host', 'v6.test:fd00::7'],
      'grep -E "db.test|v6.test" /etc/hosts',
    );
    expect(r.out).toBe('10.1.2.3\tdb.test\nfd00::7\tv6.test\n');
  });

  test('--dns, --dns-search and --dns-option: /etc/resolv.conf', async () => {
    const flags = ['--dns', '192.0.2.53', '--dns-search', 'example.test', '--dns-option', 'ndots:2'];
    const args = ['run', '--rm', ...flags, IMAGE, 'cat', '/etc/resolv.conf'];
    const [ours, theirs] = await both(args);
    // dockerd 26 writes comments around the same settings, and the nameserver first, as podvisor
    // does from API 1.42; at 1.41 podvisor's file is dockerd 20.10's. The settings are the same.
    const settings = (out: string) =>
      out
        .split('\n')
        .filter((l) => l.trim() !== '' && !l.startsWith('#'))
        .sort();
    // This dockerd 26 has no default bridge (--bridge=none), where it says how it used the host
    // file, `(legacy)` (a dockerd with one says it too: the differential test compares that).
    const noTransform = (r: CliResult) => ({
      ...r,
      out: r.out.replace(/^(# Based on host file: '[^']*') \(legacy\)$/m, '$1'),
    });
    expect(theirs[bases.findIndex((b) => b.name === 'dockerd 26.1')]).toEqual(noTransform(ours));
    expect(ours.out).toContain('# Generated by Docker Engine.\n');
    expect(ours.out).toContain("# Based on host file: '/etc/resolv.conf' (legacy)\n");
    const at141 = await dockerCli(pinnedAt(d, '1.41'), args);
    expect(theirs[bases.findIndex((b) => b.name === 'dockerd 20.10')]).toEqual(at141);
    sameAsEach(
      settings(ours.out),
      theirs.map((t) => settings(t.out)),
    );
    expect(ours.out).toContain('nameserver 192.0.2.53\n');
    expect(settings(ours.out)).toEqual(['nameserver 192.0.2.53', 'options ndots:2', 'search example.test']);
  });

  test('--hostname: the UTS name and /etc/hostname', async () => {
    expect((await same(['--hostname', 'web1'], 'hostname; cat /etc/hostname')).out).toBe('web1\nweb1\n');
  });

  test('--user and --group-add: the ids of the command', async () => {
    const r = await same(['--user', '1000:1000', '--group-add', '10', '--group-add', '4321'], 'id');
    expect(r.out).toBe('uid=1000(user) gid=1000(user) groups=10,1000(user),4321\n');
    await same([], 'id');
    await same(['--user', '1000'], 'id');
    await same(['--user', 'nobody:nogroup'], 'id');
  });

  test('--env: set, empty and unset variables', async () => {
    const r = await same(['-e', 'FOO=bar baz', '-e', 'EMPTY='], 'echo "[$FOO][$EMPTY][${UNSET-unset}]"');
    expect(r.out).toBe('[bar baz][][unset]\n');
  });

  test('--entrypoint: the program, the arguments after the image', async () => {
    const [ours, theirs] = await both(['run', '--rm', '--entrypoint', 'echo', IMAGE, 'hi', 'there']);
    sameAsEach(ours, theirs);
    expect(ours).toMatchObject({ code: 0, out: 'hi there\n' });
  });

  test('--label and --expose: inspect shows them', async () => {
    const fmt = '{{json .Config.Labels}} {{json .Config.ExposedPorts}}';
    const got: string[] = await onEachDaemon(async (daemon) => {
      const id = (
        await dockerCli(daemon, ['create', '--label', 'a=b', '--label', 'c', '--expose', '8080', IMAGE])
      ).out.trim();
      const result = (await dockerCli(daemon, ['inspect', '-f', fmt, id])).out;
      await dockerCli(daemon, ['rm', id]);
      return result;
    });
    sameAsEach(got[0], got.slice(1));
    expect(got[0]).toBe('{"a":"b","c":""} {"8080/tcp":{}}\n');
  });

  test("--cpu-shares and --memory-reservation: the container's cgroup gets them (cpu.weight and memory.low on cgroup v2)", async () => {
    // Each kernel's own cgroup files: the guest's are v2 (runc converts shares to a weight there:
    // 1 + (512 - 2) * 9999 / 262142 = 20); the baseline's are v1 or v2, whichever this host has.
    const script =
      'if [ -f /sys/fs/cgroup/cpu.weight ]; then cat /sys/fs/cgroup/cpu.weight /sys/fs/cgroup/memory.low; ' +
      'else cat /sys/fs/cgroup/cpu/cpu.shares /sys/fs/cgroup/memory/memory.soft_limit_in_bytes; fi';
    const [ours, theirs] = await both([
      'run',
      '--rm',
      '--cpu-shares',
      '512',
      '--memory-reservation',
      '64m',
      IMAGE,
      'sh',
      '-c',
      script,
    ]);
    expect(ours).toMatchObject({ code: 0, out: '20\n67108864\n' });
    for (const t of theirs) {
      expect(t.code).toBe(0);
      expect(['20\n67108864\n', '512\n67108864\n']).toContain(t.out);
    }
  });

  test('docker update --cpu-shares and --memory-reservation: applied to the running container', async () => {
    const name = `pv-update-weight-${process.pid}`;
    const run = await dockerCli(d, ['run', '-d', '--name', name, '--cpu-shares', '512', IMAGE, 'sleep', '600']);
    expect(run.code).toBe(0);
    try {
      const upd = await dockerCli(d, ['update', '--cpu-shares', '1024', '--memory-reservation', '32m', name]);
      expect(upd.code).toBe(0);
      const r = await dockerCli(d, ['exec', name, 'cat', '/sys/fs/cgroup/cpu.weight', '/sys/fs/cgroup/memory.low']);
      // 1024 shares is cgroup v2's default weight as runc converts it: 39.
      expect(r).toMatchObject({ code: 0, out: '39\n33554432\n' });
    } finally {
      await dockerCli(d, ['rm', '-f', name]);
    }
  });

  test('--memory: a command past the limit is killed (137)', async () => {
    const script = 'head -c 200000000 /dev/zero | tail > /dev/null; echo "status $?"';
    const [ours, theirs] = await both(['run', '--rm', '--memory', '32m', IMAGE, 'sh', '-c', script]);
    expect(ours).toMatchObject({ code: 0, out: 'status 137\n' });
    for (const t of theirs) expectDockerdOomOutcome(t, ours);
  });

  test("--stop-signal: docker stop sends it, the container exits with the command's status", async () => {
    const script = 'trap "echo got USR1; exit 4" USR1; echo ready; while :; do usleep 50000; done';
    const results: Array<{ code: string; logs: string; sig: string }> = await onEachDaemon(async (daemon) => {
      const id = (
        await dockerCli(daemon, ['run', '-d', '--stop-signal', 'USR1', IMAGE, 'sh', '-c', script])
      ).out.trim();
      while (!(await dockerCli(daemon, ['logs', id])).out.includes('ready')) await new Promise((r) => setImmediate(r));
      expect((await dockerCli(daemon, ['stop', '-t', '60', id])).code).toBe(0);
      const code = (await dockerCli(daemon, ['inspect', '-f', '{{.State.ExitCode}}', id])).out.trim();
      const sig = (await dockerCli(daemon, ['inspect', '-f', '{{.Config.StopSignal}}', id])).out.trim();
      const result = { code, logs: (await dockerCli(daemon, ['logs', id])).out, sig };
      await dockerCli(daemon, ['rm', '-f', id]);
      return result;
    });
    sameAsEach(results[0], results.slice(1));
    expect(results[0]).toEqual({ code: '4', logs: 'ready\ngot USR1\n', sig: 'USR1' });
  });

  test('--stop-timeout: a container that ignores the signal is killed (137); inspect shows the timeout', async () => {
    const script = 'trap "" TERM; echo ready; while :; do usleep 50000; done';
    const results: string[] = await onEachDaemon(async (daemon) => {
      const id = (await dockerCli(daemon, ['run', '-d', '--stop-timeout', '1', IMAGE, 'sh', '-c', script])).out.trim();
      while (!(await dockerCli(daemon, ['logs', id])).out.includes('ready')) await new Promise((r) => setImmediate(r));
      expect((await dockerCli(daemon, ['stop', id])).code).toBe(0);
      const result = (await dockerCli(daemon, ['inspect', '-f', '{{.State.ExitCode}} {{.Config.StopTimeout}}', id]))
        .out;
      await dockerCli(daemon, ['rm', '-f', id]);
      return result;
    });
    sameAsEach(results[0], results.slice(1));
    expect(results[0]).toBe('137 1\n');
  });
});

describe('flags a VM cannot honour: refused at create by name (dockerd honours them)', () => {
  test.each([
    [['--pid', 'host'], '--pid host is not supported'],
    [['--ipc', 'host'], '--ipc host is not supported'],
    [['--uts', 'host'], '--uts host is not supported'],
    [['--ipc', 'none'], '--ipc none is not supported'],
  ])('%j', async (flags, message) => {
    const [ours, theirs] = await both(['run', '--rm', ...flags, IMAGE, 'true']);
    for (const t of theirs) expect(t).toMatchObject({ code: 0 });
    expect(ours.code).toBe(125);
    expect(ours.err).toContain(`Error response from daemon: ${message}: `);
    expect((await dockerCli(d, ['ps', '-aq'])).out).toBe('');
  });

  // Not run on the baseline, whose answer depends on the host's kernel and cgroup version
  // (dockerd warns and discards --kernel-memory and --oom-kill-disable where the cgroup lacks
  // them, refuses --cpu-rt-* without a real-time group scheduler).
  test.each([
    [['--cpu-rt-runtime', '1000'], '--cpu-rt-runtime is not supported'],
    [['--oom-kill-disable'], '--oom-kill-disable is not supported'],
  ])('%j (podvisor only)', async (flags, message) => {
    const ours = await dockerCli(d, ['run', '--rm', ...flags, IMAGE, 'true']);
    expect(ours.code).toBe(125);
    expect(ours.err).toContain(`Error response from daemon: ${message}: `);
  });

  test('--kernel-memory: refused by a client at 1.41, ignored from 1.42 (as dockerd 26 ignores it) (podvisor only)', async () => {
    const args = ['run', '--rm', '--kernel-memory', '8m', IMAGE, 'true'];
    const at141 = await dockerCli(pinnedAt(d, '1.41'), args);
    expect(at141.code).toBe(125);
    expect(at141.err).toContain('Error response from daemon: --kernel-memory is not supported: ');
    expect((await dockerCli(d, args)).code).toBe(0);
  });
});

describe('more run flags, beside dockerd', () => {
  test('--rm: the container is gone once it exits', async () => {
    const [ours, theirs] = await both(['run', '--rm', '--name', 'pv-rm-flag', IMAGE, 'echo', 'hi']);
    sameAsEach(ours, theirs);
    const left = await both(['ps', '-aq', '--filter', 'name=^pv-rm-flag$']);
    sameAsEach(left[0], left[1]);
    expect(left[0].out).toBe('');
  });

  test('--interactive: stdin reaches the command', async () => {
    const input = Buffer.from('line one\nline two\n');
    const args = ['run', '--rm', '-i', IMAGE, 'sh', '-c', 'wc -l; echo done'];
    const [ours, ...theirs] = await Promise.all([d, ...baseDaemons()].map((x) => dockerCli(x, args, input)));
    sameAsEach(ours, theirs);
    expect(ours.out.replace(/ +/g, '')).toBe('2\ndone\n');
  });

  test('--tty: the command has a terminal', async () => {
    const [ours, theirs] = await both(['run', '--rm', '-t', IMAGE, 'tty']);
    sameAsEach(ours, theirs);
    expect(ours.out).toBe('/dev/pts/0\r\n');
  });

  test('--attach: only the streams asked for', async () => {
    const [ours, theirs] = await both(['run', '--rm', '-a', 'stderr', IMAGE, 'sh', '-c', 'echo out; echo err >&2']);
    sameAsEach(ours, theirs);
    expect(ours).toMatchObject({ code: 0, out: '', err: 'err\n' });
  });

  test('--userns host: no user namespace, the ids are the kernel’s own', async () => {
    const [ours, theirs] = await both(['run', '--rm', '--userns', 'host', IMAGE, 'cat', '/proc/self/uid_map']);
    sameAsEach(ours, theirs);
    expect(ours.out.trim().split(/\s+/)).toEqual(['0', '0', '4294967295']);
  });

  test('--health-cmd, --health-interval, --health-retries, --health-timeout, --health-start-period: the check runs, inspect shows it', async () => {
    const flags = ['--health-cmd', 'test -e /tmp/ok', '--health-interval', '1s', '--health-retries', '2'];
    flags.push('--health-timeout', '5s', '--health-start-period', '2s');
    const got: string[] = await onEachDaemon(async (daemon) => {
      const id = (
        await dockerCli(daemon, ['run', '-d', ...flags, IMAGE, 'sh', '-c', 'touch /tmp/ok; sleep 600'])
      ).out.trim();
      const status = async () =>
        (await dockerCli(daemon, ['inspect', '-f', '{{.State.Health.Status}}', id])).out.trim();
      while ((await status()) === 'starting') await new Promise((r) => setTimeout(r, 200));
      const result = `${await status()} ${(await dockerCli(daemon, ['inspect', '-f', '{{json .Config.Healthcheck}}', id])).out}`;
      await dockerCli(daemon, ['rm', '-f', id]);
      return result;
    });
    sameAsEach(got[0], got.slice(1));
    expect(got[0]).toBe(
      'healthy {"Test":["CMD-SHELL","test -e /tmp/ok"],"Interval":1000000000,"Timeout":5000000000,"StartPeriod":2000000000,"Retries":2}\n',
    );
  });

  test('--no-healthcheck: inspect shows NONE', async () => {
    const got: string[] = await onEachDaemon(async (daemon) => {
      const id = (await dockerCli(daemon, ['create', '--no-healthcheck', IMAGE])).out.trim();
      const result = (await dockerCli(daemon, ['inspect', '-f', '{{json .Config.Healthcheck}}', id])).out;
      await dockerCli(daemon, ['rm', id]);
      return result;
    });
    sameAsEach(got[0], got.slice(1));
    expect(got[0]).toBe('{"Test":["NONE"]}\n');
  });

  test('--restart on-failure:2: two restarts, then exited', async () => {
    const got: string[] = await onEachDaemon(async (daemon) => {
      const id = (
        await dockerCli(daemon, ['run', '-d', '--restart', 'on-failure:2', IMAGE, 'sh', '-c', 'exit 3'])
      ).out.trim();
      const fmt = '{{.RestartCount}} {{.State.Status}} {{.State.ExitCode}} {{json .HostConfig.RestartPolicy}}';
      const state = async () => (await dockerCli(daemon, ['inspect', '-f', fmt, id])).out;
      let s = await state();
      while (!s.startsWith('2 exited')) {
        await new Promise((r) => setTimeout(r, 200));
        s = await state();
      }
      const result = s;
      await dockerCli(daemon, ['rm', '-f', id]);
      return result;
    });
    sameAsEach(got[0], got.slice(1));
    expect(got[0]).toBe('2 exited 3 {"Name":"on-failure","MaximumRetryCount":2}\n');
  });

  test('--log-driver and --log-opt: json-file rotation keeps the tail; none keeps nothing readable', async () => {
    const got: Array<{ last: string; lines: boolean; config: string; none: CliResult }> = await onEachDaemon(
      async (daemon) => {
        const opts = ['--log-driver', 'json-file', '--log-opt', 'max-size=1k', '--log-opt', 'max-file=2'];
        const id = (await dockerCli(daemon, ['run', '-d', ...opts, IMAGE, 'seq', '1', '2000'])).out.trim();
        await dockerCli(daemon, ['wait', id]);
        const logs = (await dockerCli(daemon, ['logs', id])).out.trim().split('\n');
        const config = (await dockerCli(daemon, ['inspect', '-f', '{{json .HostConfig.LogConfig}}', id])).out;
        await dockerCli(daemon, ['rm', id]);
        const quiet = (await dockerCli(daemon, ['run', '-d', '--log-driver', 'none', IMAGE, 'echo', 'hi'])).out.trim();
        await dockerCli(daemon, ['wait', quiet]);
        const none = await dockerCli(daemon, ['logs', quiet]);
        await dockerCli(daemon, ['rm', quiet]);
        return { last: logs[logs.length - 1], lines: logs.length > 10 && logs.length < 100, config, none };
      },
    );
    sameAsEach(got[0], got.slice(1));
    expect(got[0]).toMatchObject({
      last: '2000',
      lines: true,
      config: '{"Type":"json-file","Config":{"max-file":"2","max-size":"1k"}}\n',
    });
  });

  test('--volume and --mount: a host directory, read-write and read-only; --volumes-from', async () => {
    const host = fs.mkdtempSync(path.join(dir, 'bind-'));
    fs.writeFileSync(path.join(host, 'f'), 'from the host\n');
    const script = 'cat /data/f; echo x > /data/g && echo wrote; echo y > /ro/h || echo refused';
    const [ours, theirs] = await both([
      'run',
      '--rm',
      '-v',
      `${host}:/data`,
      '--mount',
      `type=bind,src=${host},dst=/ro,readonly`,
      IMAGE,
      'sh',
      '-c',
      script,
    ]);
    sameAsEach(ours, theirs);
    expect(ours.out).toBe('from the host\nwrote\nrefused\n');
    expect(ours.err).toContain('Read-only file system');
    const shared: string[] = await onEachDaemon(async (daemon) => {
      const src = (
        await dockerCli(daemon, ['run', '-d', '-v', '/shared', IMAGE, 'sh', '-c', 'echo kept > /shared/k'])
      ).out.trim();
      await dockerCli(daemon, ['wait', src]);
      const result = (await dockerCli(daemon, ['run', '--rm', '--volumes-from', src, IMAGE, 'cat', '/shared/k'])).out;
      await dockerCli(daemon, ['rm', '-v', src]);
      return result;
    });
    expect(shared).toEqual(['kept\n', ...bases.map(() => 'kept\n')]);
  });
});

describe('flags whose answer is an error or a no-op under dockerd on Linux: the same answer', () => {
  test.each([
    [['--runtime', 'runc'], 'true'],
    [['--runtime', 'pv-nosuch'], 'true'],
    [['--isolation', 'default'], 'true'],
    [['--isolation', 'hyperv'], 'true'],
    [['--cpu-count', '1'], 'true'],
    [['--cpu-percent', '50'], 'true'],
    [['--io-maxbandwidth', '1m'], 'true'],
    [['--io-maxiops', '100'], 'true'],
  ])('%j', async (flags, script) => {
    // At the baseline's version: dockerd 26 words some of these refusals its own way, which
    // podvisor keeps from 1.42 (an unknown runtime), and 20.10's at 1.41.
    const args = ['run', '--rm', ...flags, IMAGE, 'sh', '-c', script];
    // podvisor at each baseline's own version (1.41 beside dockerd 20.10, the negotiated 1.45
    // beside dockerd 26.1), beside that baseline.
    for (const b of bases) {
      const ours = b.version === '1.41' ? pinnedAt(d, '1.41') : d;
      const answers = await Promise.all([dockerCli(ours, args), dockerCli(b.daemon, args)]);
      expect({ [b.name]: answers[0] }).toEqual({ [b.name]: answers[1] });
    }
  });

  // The CLI refuses these below the API version that brought them, against either daemon; at
  // 1.45 podvisor serves the start interval and refuses annotations (no OCI runtime to take
  // them), as docs/limitations.md says.
  test.each([
    [['--annotation', 'a=b'], { code: 125, err: 'HostConfig.Annotations is not supported by podvisor' }],
    [['--health-start-interval', '1s', '--health-cmd', 'true'], { code: 0, err: '' }],
  ])('%j: the same answer as dockerd 20.10 at 1.41; at 1.45 as podvisor serves it', async (flags, at145) => {
    const args = ['run', '--rm', ...flags, IMAGE, 'true'];
    const [ours, ...theirs] = await Promise.all([d, ...baseDaemons()].map((x) => dockerCli(pinnedAt(x, '1.41'), args)));
    sameAsEach(ours, theirs);
    expect(ours.code).toBe(1);
    const now = await dockerCli(d, args);
    expect(now.code).toBe(at145.code);
    expect(now.err).toContain(at145.err);
  });
});

/** `docker create FLAGS IMAGE` on both daemons, `docker inspect -f FORMAT`, then removed. */
async function inspectCreated(flags: string[], format: string): Promise<[string, string[]]> {
  const out: string[] = await onEachDaemon(async (daemon) => {
    const c = await dockerCli(daemon, ['create', ...flags, IMAGE, 'true']);
    expect(c.code).toBe(0);
    const id = c.out.trim();
    const result = (await dockerCli(daemon, ['inspect', '-f', format, id])).out;
    await dockerCli(daemon, ['rm', '-f', id]);
    return result;
  });
  return [out[0]!, out.slice(1)];
}

/** `docker run -d FLAGS IMAGE sleep 600` on both daemons, then `body(daemon, id)` on each, then removed. */
async function withRunning<T>(
  flags: string[],
  body: (daemon: typeof d | BaselineDockerd, id: string) => Promise<T>,
): Promise<[T, T[]]> {
  const out: T[] = await onEachDaemon(async (daemon) => {
    const run = await dockerCli(daemon, ['run', '-d', ...flags, IMAGE, 'sleep', '600']);
    expect(run).toMatchObject({ code: 0, err: '' });
    const id = run.out.trim();
    try {
      return await body(daemon, id);
    } finally {
      await dockerCli(daemon, ['rm', '-f', id]);
    }
  });
  return [out[0]!, out.slice(1)];
}

/** The host's CPUs as dockerd counts them (podvisor's VMs have at most these). */
const HOST_CPUS = os.cpus().length;

describe('--cpus, --cpu-period and --cpu-quota beside dockerd', () => {
  // cpu.max of the container's cgroup ("QUOTA PERIOD", "max" for none): the guest's is cgroup
  // v2 (runc writes the same file on a cgroup v2 host); on a cgroup v1 host, the CFS files.
  const CPU_MAX =
    'if [ -f /sys/fs/cgroup/cpu.max ]; then cat /sys/fs/cgroup/cpu.max; else q=$(cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us); ' +
    '[ "$q" = -1 ] && q=max; echo "$q $(cat /sys/fs/cgroup/cpu/cpu.cfs_period_us)"; fi';

  test.each([
    [['--cpus', '0.5'], '50000 100000\n'],
    [['--cpu-period', '50000', '--cpu-quota', '25000'], '25000 50000\n'],
    [['--cpu-quota', '150000'], '150000 100000\n'],
    [['--cpu-period', '50000'], 'max 50000\n'],
  ])("%j: the cgroup's cpu.max, as under dockerd", async (flags, cpuMax) => {
    const [ours, theirs] = await both(['run', '--rm', ...flags, IMAGE, 'sh', '-c', CPU_MAX]);
    sameAsEach(ours, theirs);
    expect(ours).toMatchObject({ code: 0, out: cpuMax, err: '' });
  });

  test('inspect shows NanoCpus, CpuPeriod and CpuQuota as dockerd does', async () => {
    const format = '{{.HostConfig.NanoCpus}} {{.HostConfig.CpuPeriod}} {{.HostConfig.CpuQuota}}';
    const [ours, theirs] = await inspectCreated(['--cpus', '1.5'], format);
    sameAsEach(ours, theirs);
    expect(ours).toBe('1500000000 0 0\n');
    const [ours2, theirs2] = await inspectCreated(['--cpu-period', '50000', '--cpu-quota', '25000'], format);
    sameAsEach(ours2, theirs2);
    expect(ours2).toBe('0 50000 25000\n');
  });

  test.each([
    [['--cpus', String(HOST_CPUS + 1)], `Range of CPUs is from 0.01 to ${HOST_CPUS}.00`],
    [['--cpu-period', '500'], 'CPU cfs period can not be less than 1ms'],
    [['--cpu-period', '2000000'], 'CPU cfs period can not be less than 1ms'],
    [['--cpu-quota', '500'], 'CPU cfs quota can not be less than 1ms'],
    [['--cpus', '1', '--cpu-period', '50000'], 'Conflicting options: Nano CPUs and CPU Period cannot both be set'],
    [['--cpus', '1', '--cpu-quota', '50000'], 'Conflicting options: Nano CPUs and CPU Quota cannot both be set'],
  ])('%j: the same error as dockerd', async (flags, message) => {
    const [ours, theirs] = await both(['run', '--rm', ...flags, IMAGE, 'true']);
    sameAsEach(ours, theirs);
    expect(ours.code).toBe(125);
    expect(ours.err).toContain(`Error response from daemon: ${message}`);
  });

  test("docker update --cpus, --cpu-quota and --cpu-period: cpu.max of the running container; a conflict is dockerd's", async () => {
    const [ours, theirs] = await withRunning(['--cpus', '1'], async (daemon, id) => {
      const u = await dockerCli(daemon, ['update', '--cpus', '0.5', id]);
      const r = await dockerCli(daemon, ['exec', id, 'sh', '-c', CPU_MAX]);
      const c = await dockerCli(daemon, ['update', '--cpu-quota', '30000', id]);
      return [u.code, u.err, r.out, c.code, c.err.replaceAll(id, 'ID')];
    });
    sameAsEach(ours, theirs);
    expect(ours.slice(0, 4)).toEqual([0, '', '50000 100000\n', 1]);
    expect(ours[4]).toContain('Conflicting options: CPU Quota cannot be updated as NanoCPUs has already been set');
    const [ours2, theirs2] = await withRunning(['--cpu-quota', '50000'], async (daemon, id) => {
      const u = await dockerCli(daemon, ['update', '--cpu-quota', '30000', '--cpu-period', '60000', id]);
      const r = await dockerCli(daemon, ['exec', id, 'sh', '-c', CPU_MAX]);
      return [u.code, u.err, r.out];
    });
    sameAsEach(ours2, theirs2);
    expect(ours2).toEqual([0, '', '30000 60000\n']);
  });
});

describe('--cpuset-cpus and --cpuset-mems beside dockerd', () => {
  // The cpuset of the container's cgroup as asked (cgroup v2's cpuset.cpus and cpuset.mems are
  // empty when nothing was asked, v1's the parent's), then what the command may run on.
  const CPUSET =
    'if [ -f /sys/fs/cgroup/cpuset.cpus ]; then cat /sys/fs/cgroup/cpuset.cpus /sys/fs/cgroup/cpuset.mems; else ' +
    'cat /sys/fs/cgroup/cpuset/cpuset.cpus /sys/fs/cgroup/cpuset/cpuset.mems; fi; nproc; grep Cpus_allowed_list /proc/self/status';

  test('the container runs on the CPU and memory node asked for: its cgroup, nproc, its affinity', async () => {
    const flags = ['--cpuset-cpus', '0', '--cpuset-mems', '0'];
    const [ours, theirs] = await both(['run', '--rm', ...flags, IMAGE, 'sh', '-c', CPUSET]);
    sameAsEach(ours, theirs);
    expect(ours).toEqual({ code: 0, out: '0\n0\n1\nCpus_allowed_list:\t0\n', err: '' });
    const [i1, i2] = await inspectCreated(flags, '{{.HostConfig.CpusetCpus}} {{.HostConfig.CpusetMems}}');
    sameAsEach(i1, i2);
    expect(i1).toBe('0 0\n');
    // The host's last CPU: the container's VM has a vCPU of that number, and runs there.
    const last = String(HOST_CPUS - 1);
    const lastFlags = ['--cpuset-cpus', last, '--cpuset-mems', '0'];
    const [ours2, theirs2] = await both(['run', '--rm', ...lastFlags, IMAGE, 'sh', '-c', CPUSET]);
    sameAsEach(ours2, theirs2);
    expect(ours2).toEqual({ code: 0, out: `${last}\n0\n1\nCpus_allowed_list:\t${last}\n`, err: '' });
  });

  test('--cpus 2 on a host of 2 or more CPUs: the command has 2 CPUs, as under dockerd', async () => {
    const script = 'nproc; cat /sys/devices/system/cpu/online';
    const [ours, theirs] = await both([
      'run',
      '--rm',
      '--cpus',
      String(Math.min(2, HOST_CPUS)),
      IMAGE,
      'sh',
      '-c',
      script,
    ]);
    sameAsEach(ours, theirs);
    expect(ours.out).toBe(HOST_CPUS >= 2 ? '2\n0-1\n' : '1\n0\n');
  });

  test.each([
    [['--cpuset-cpus', '0-x']],
    [['--cpuset-cpus', '1-0']],
    [['--cpuset-cpus', String(HOST_CPUS)]],
    [['--cpuset-mems', 'a']],
    [['--cpuset-mems', '1']],
  ])('%j: the same error as dockerd', async (flags) => {
    const [ours, theirs] = await both(['run', '--rm', ...flags, IMAGE, 'true']);
    sameAsEach(ours, theirs);
    expect(ours.code).toBe(125);
  });

  test('docker update --cpuset-cpus and --cpuset-mems: applied to the running container', async () => {
    const [ours, theirs] = await withRunning([], async (daemon, id) => {
      const u = await dockerCli(daemon, ['update', '--cpuset-cpus', '0', '--cpuset-mems', '0', id]);
      const r = await dockerCli(daemon, ['exec', id, 'sh', '-c', CPUSET]);
      const i = await dockerCli(daemon, ['inspect', '-f', '{{.HostConfig.CpusetCpus}} {{.HostConfig.CpusetMems}}', id]);
      return [u.code, u.err, r.out, i.out];
    });
    sameAsEach(ours, theirs);
    expect(ours).toEqual([0, '', '0\n0\n1\nCpus_allowed_list:\t0\n', '0 0\n']);
  });
});

describe('--memory-swap beside dockerd: no swap is used past --memory', () => {
  // The guest's kernel has no swap, as a host with swap off: memory + swap is then memory alone.
  const hostSwap = fs.readFileSync('/proc/swaps', 'utf8').trim().split('\n').length > 1;

  test('-m 32m --memory-swap 64m: a command past 32 MiB is killed (137); inspect shows both', async () => {
    const flags = ['-m', '32m', '--memory-swap', '64m'];
    const script = 'head -c 200000000 /dev/zero | tail > /dev/null; echo "status $?"';
    const [ours, theirs] = await both(['run', '--rm', ...flags, IMAGE, 'sh', '-c', script]);
    expect(ours).toMatchObject({ code: 0, out: 'status 137\n' });
    // A baseline host with swap gives the command its 32 MiB of swap.
    if (!hostSwap) for (const t of theirs) expectDockerdOomOutcome(t, ours);
    const [i1, i2] = await inspectCreated(flags, '{{.HostConfig.Memory}} {{.HostConfig.MemorySwap}}');
    sameAsEach(i1, i2);
    expect(i1).toBe('33554432 67108864\n');
    const [u1, u2] = await inspectCreated(['-m', '32m', '--memory-swap', '-1'], '{{.HostConfig.MemorySwap}}');
    sameAsEach(u1, u2);
    expect(u1).toBe('-1\n');
    // -m alone: dockerd's default of twice the memory.
    const [m1, m2] = await inspectCreated(['-m', '32m'], '{{.HostConfig.MemorySwap}}');
    sameAsEach(m1, m2);
    expect(m1).toBe('67108864\n');
  });

  test.each([
    [['-m', '32m', '--memory-swap', '16m'], 'Minimum memoryswap limit should be larger than memory limit'],
    [['--memory-swap', '64m'], 'You should always set the Memory limit when using Memoryswap limit'],
  ])('%j: the same error as dockerd', async (flags, message) => {
    const [ours, theirs] = await both(['run', '--rm', ...flags, IMAGE, 'true']);
    sameAsEach(ours, theirs);
    expect(ours.err).toContain(`Error response from daemon: ${message}`);
  });

  test('docker update -m --memory-swap: inspect shows the new limits', async () => {
    const [ours, theirs] = await withRunning(['-m', '32m', '--memory-swap', '64m'], async (daemon, id) => {
      const u = await dockerCli(daemon, ['update', '-m', '48m', '--memory-swap', '96m', id]);
      const i = await dockerCli(daemon, ['inspect', '-f', '{{.HostConfig.Memory}} {{.HostConfig.MemorySwap}}', id]);
      // Above the swap limit it has, a memory limit alone is dockerd's conflict.
      const c = await dockerCli(daemon, ['update', '-m', '128m', id]);
      return [u.code, u.err, i.out, c.code, c.err.replaceAll(id, 'ID')];
    });
    sameAsEach(ours, theirs);
    expect(ours.slice(0, 4)).toEqual([0, '', '50331648 100663296\n', 1]);
    expect(ours[4]).toContain('Memory limit should be smaller than already set memoryswap limit');
  });
});

describe("--memory-swappiness: discarded with dockerd's warning for cgroup v2", () => {
  const WARNING =
    'WARNING: Your kernel does not support memory swappiness capabilities or the cgroup is not mounted. Memory swappiness discarded.\n';

  test('the CLI prints the warning, the container runs, inspect shows none', async () => {
    const script = 'cat /sys/fs/cgroup/memory/memory.swappiness 2>/dev/null || echo none';
    const [ours, theirs] = await both(['run', '--rm', '--memory-swappiness', '10', IMAGE, 'sh', '-c', script]);
    expect(ours).toEqual({ code: 0, out: 'none\n', err: WARNING });
    const [i1, i2] = await inspectCreated(['--memory-swappiness', '10'], '{{json .HostConfig.MemorySwappiness}}');
    expect(i1).toBe('null\n');
    // The baseline gives the same answer on a cgroup v2 host; a cgroup v1 host has the knob.
    const v2 =
      (await dockerCli(bases[0].daemon, ['run', '--rm', IMAGE, 'test', '-f', '/sys/fs/cgroup/cgroup.controllers']))
        .code === 0;
    if (v2) {
      sameAsEach(ours, theirs);
      sameAsEach(i1, i2);
    } else {
      sameAsEach({ code: 0, out: '10\n', err: '' }, theirs);
      sameAsEach('10\n', i2);
    }
  });
});

describe("--blkio-weight and --blkio-weight-device: discarded with dockerd's warning", () => {
  // A container's disk I/O is its VM's QEMU's, in the host's cgroup: where the host cannot
  // weigh block I/O (no CFQ/BFQ weight files, no io controller), dockerd and podvisor both
  // discard the weights with the same warnings; where it can, dockerd applies them and
  // podvisor refuses them by name (docs/limitations.md). Which case runs is the host's, known
  // when the file is collected; the other is reported skipped with its reason.
  const support = hostBlkioWeightSupport();
  const weighs = support.weight || support.weightDevice;
  const flags = ['--blkio-weight', '300', '--blkio-weight-device', '/dev/null:400'];

  testIf(
    !weighs,
    "this host's cgroups can weigh block I/O (the io controller or CFQ/BFQ weight files): dockerd applies the weights here",
    'where the host cannot weigh block I/O: the CLI prints the warnings, the container runs, inspect shows none; update the same',
    async () => {
      const [ours, theirs] = await both(['run', '--rm', ...flags, IMAGE, 'echo', 'ran']);
      expect(ours).toEqual({
        code: 0,
        out: 'ran\n',
        err: `WARNING: ${BLKIO_WEIGHT_DISCARDED}\nWARNING: ${BLKIO_WEIGHT_DEVICE_DISCARDED}\n`,
      });
      sameAsEach(ours, theirs);
      const format = '{{.HostConfig.BlkioWeight}} {{json .HostConfig.BlkioWeightDevice}}';
      const [i1, i2] = await inspectCreated(flags, format);
      expect(i1).toBe('0 []\n');
      sameAsEach(i1, i2);
      const updated = await withRunning([], async (daemon, id) => {
        const u = await dockerCli(daemon, ['update', '--blkio-weight', '600', id]);
        const weight = (await dockerCli(daemon, ['inspect', '-f', '{{.HostConfig.BlkioWeight}}', id])).out;
        return { code: u.code, err: u.err, weight };
      });
      // The CLI does not print an update's warnings: the weight is dropped all the same.
      expect(updated[0]).toEqual({ code: 0, err: '', weight: '0\n' });
      sameAsEach(updated[0], updated[1]);
    },
  );

  testIf(
    weighs,
    "this host's cgroups cannot weigh block I/O (no io controller, no CFQ/BFQ weight files): both daemons discard the weights here",
    'where the host can weigh block I/O: refused at create by name (dockerd runs it with the weights)',
    async () => {
      const [ours, theirs] = await both(['run', '--rm', ...flags, IMAGE, 'echo', 'ran']);
      expect(ours.code).toBe(125);
      expect(ours.err).toContain('Error response from daemon: --blkio-weight is not supported: ');
      for (const t of theirs) expect(t).toMatchObject({ code: 0, out: 'ran\n' });
    },
  );
});

describe('--cgroupns and HostConfig.Cgroup', () => {
  test("--cgroupns private: the container's cgroup is the root of its namespace, as under dockerd", async () => {
    const [ours, theirs] = await both(['run', '--rm', '--cgroupns', 'private', IMAGE, 'cat', '/proc/self/cgroup']);
    // Every hierarchy's line ends in ":/" (cgroup v2 has one line, "0::/"; a v1 host more).
    for (const r of [ours, ...theirs]) {
      expect(r.code).toBe(0);
      expect(r.out).toMatch(/^0::\/$/m);
      expect(
        r.out
          .trim()
          .split('\n')
          .every((l) => l.endsWith(':/')),
      ).toBe(true);
    }
    const [i1] = await inspectCreated(['--cgroupns', 'private'], '{{.HostConfig.CgroupnsMode}}');
    expect(i1).toBe('private\n');
    // Without the flag: dockerd's default on a cgroup v2 host, which the guest is.
    const [ours2] = await both(['run', '--rm', IMAGE, 'cat', '/proc/self/cgroup']);
    expect(ours2).toEqual({ code: 0, out: '0::/\n', err: '' });
    const [i2] = await inspectCreated([], '{{.HostConfig.CgroupnsMode}}');
    expect(i2).toBe('private\n');
  });

  test('--cgroupns host: refused at create by name (dockerd runs it)', async () => {
    const [ours, theirs] = await both(['run', '--rm', '--cgroupns', 'host', IMAGE, 'true']);
    for (const t of theirs) expect(t).toMatchObject({ code: 0 });
    expect(ours.code).toBe(125);
    expect(ours.err).toContain('Error response from daemon: --cgroupns host is not supported: ');
  });

  test("HostConfig.Cgroup (API only): refused at create by name; an invalid CgroupnsMode is dockerd's 400", async () => {
    const post = (body: object) =>
      new Promise<{ status: number; text: string }>((resolve, reject) => {
        const req = http.request(
          {
            socketPath: d.socketPath,
            method: 'POST',
            path: '/v1.41/containers/create',
            headers: { 'Content-Type': 'application/json' },
          },
          (res) => {
            let text = '';
            res.on('data', (b: Buffer) => (text += b.toString()));
            res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
          },
        );
        req.on('error', reject);
        req.end(JSON.stringify(body));
      });
    const r = await post({ Image: IMAGE, HostConfig: { Cgroup: 'container:other' } });
    expect(r.status).toBe(400);
    expect(JSON.parse(r.text).message).toMatch(/^HostConfig\.Cgroup is not supported: /);
    const m = await post({ Image: IMAGE, HostConfig: { CgroupnsMode: 'shared' } });
    expect(m.status).toBe(400);
    expect(JSON.parse(m.text)).toEqual({ message: 'invalid cgroup namespace mode: shared' });
    expect((await dockerCli(d, ['ps', '-aq'])).out).toBe('');
  });
});
