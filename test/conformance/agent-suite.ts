/**
 * The agent conformance suite: the same cases, run against every implementation of the Agent
 * contract (src/vm/types.ts) by one small test file each:
 *
 *   fake.test.ts   the in-memory fake agent (test/helpers/fake-vm) that unit tests of the
 *                  upper layers run on
 *   host.test.ts   the real C agent in host test mode (no VM), in a network namespace of its
 *                  own with a tap device as its NIC
 *   vm.test.ts     the real C agent as PID 1 of a QEMU microVM booted with one NIC, the
 *                  volume share and an upper disk
 *
 * so the fake cannot drift from the real thing unnoticed. A case an agent kind cannot run says
 * why (`AgentLacks`): it is jest's skip, reported as skipped with the reason in its name.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { InvalidArgumentError, NotFoundError, ConflictError } from '../../src/errors';
import type { Agent } from '../../src/vm/types';
import { PROTOCOL_VERSION } from '../../src/vm/agent/protocol';
import { collect, finish, run, spec, waitForOutput } from '../helpers/agent-fixtures';
import { testIf } from '../helpers/skip';
import { deviceRules } from '../../src/pod/security/devices';
import { defaultSecurity } from '../../src/translate/request/policy/default-security';
import type { ChannelName } from '../helpers/agent-wire';
import type { ArchiveRequest } from '../../src/vm/types';
import { Readable } from 'node:stream';
import * as tar from 'tar-stream';

/** The entry names of tar `t`, in order. */
async function tarNames(t: Buffer): Promise<string[]> {
  const x = tar.extract();
  const names: string[] = [];
  x.on('entry', (h, body, next) => {
    names.push(h.name);
    body.on('end', next);
    body.resume();
  });
  await new Promise((resolve, reject) => {
    x.on('finish', () => resolve(undefined));
    x.on('error', reject);
    Readable.from([t]).pipe(x);
  });
  return names;
}

/** What the suite needs from one agent kind. */
export interface AgentHarness {
  /** The agent under test. */
  agent: Agent;
  /** A fresh container rootfs (relative to the share) for container `id`. */
  rootfs(id: string): string;
  /** A new connection to the same agent, as a restarted daemon makes (the old one closed). */
  reconnect(): Promise<Agent>;
  /**
   * A new connection made at once after an old one that left a frame half-sent: the old one
   * SYNCs both channels, writes a frame short by `missing` bytes on each channel in `partial`
   * (agent-wire.ts) and closes; the new one connects without waiting for the agent to see the
   * old one go. Absent where the kind has no channels (`AgentLacks.wire` says why).
   */
  reconnectMidFrame?(partial: ChannelName[], missing: number): Promise<Agent>;
  /** The NIC the agent's VM has: guest name and MAC. */
  nic: { name: string; mac: string };
  /** The virtio-fs tag of the volume share, and (when the kind has one) its host directory. */
  volumes?: { tag: string; hostDir?: string };
  /**
   * A fresh upper disk behind the VM's disk device, its filesystem made by the host from a
   * directory `fill` (when given) fills first; returns the device's guest name (a
   * CREATE_CONTAINER's upperDisk). Absent where the kind has none (`AgentLacks.upperDisk` says
   * why); a kind that keeps no filesystem on it ignores `fill` (`AgentLacks.diskFilesystem`).
   */
  upperDisk?(fill?: (root: string) => void): Promise<string>;
  /** Stop everything the harness started. */
  close(): Promise<void>;
}

/**
 * Features an agent kind lacks, each with its reason: known when the file is collected, so that
 * those cases are jest's skips (`it.skip`) with the reason in their names, reported as skipped.
 */
export type AgentLacks = Partial<
  Record<
    | 'volumeShare'
    | 'seccomp'
    | 'podPause'
    | 'deviceNodes'
    | 'deviceCgroup'
    | 'lowerOomScore'
    | 'wire'
    | 'upperDisk'
    | 'diskFilesystem',
    string
  >
>;

/**
 * Defines the suite's cases against the harness `setup` makes (once for the file); the cases
 * needing a feature `cannot` names are skipped, the reason in their names.
 */
export function agentConformance(kind: string, cannot: AgentLacks, setup: () => Promise<AgentHarness>): void {
  let h: AgentHarness;
  let agent: Agent;
  let n = 0;
  /** A new container with its own rootfs; returns its id. */
  const container = async (): Promise<string> => {
    const id = `conf-${++n}`;
    await agent.createContainer({ id, rootfs: h.rootfs(id) });
    return id;
  };
  /** `it` for a case the kind may lack: where it does, jest's skip, its name saying why. */
  const itUnless = (feature: keyof AgentLacks, name: string, fn: () => Promise<void>) => {
    const why = cannot[feature];
    // eslint-disable-next-line jest/expect-expect -- the case's expects are in fn
    testIf(!why, `for the ${kind}: ${why}`, name, fn);
  };

  beforeAll(async () => {
    h = await setup();
    agent = h.agent;
  });
  afterAll(async () => {
    await h?.close();
  });

  describe(`agent conformance: ${kind}`, () => {
    it('answers the handshake and ping', async () => {
      expect((await agent.version()).protocol).toBe(PROTOCOL_VERSION);
      await agent.ping();
    });

    it('creates and destroys containers; a duplicate is a conflict, an unknown one not found', async () => {
      const id = await container();
      await expect(agent.createContainer({ id, rootfs: h.rootfs(`${id}-b`) })).rejects.toBeInstanceOf(ConflictError);
      const p = await agent.startProcess(spec(id, ['sleep', '100']));
      await agent.destroyContainer(id);
      expect((await p.exited).exitCode).toBe(137);
      await expect(agent.destroyContainer(id)).rejects.toBeInstanceOf(NotFoundError);
      await expect(agent.startProcess(spec(id, ['true']))).rejects.toBeInstanceOf(NotFoundError);
    });

    it('starts a process with args, env, a created cwd and a user', async () => {
      const id = await container();
      const env = ['PATH=/bin', 'HOME=/root', 'FOO=bar baz'];
      const r = await run(agent, id, ['env'], { env });
      expect(r.stdout.split('\n').filter(Boolean).sort()).toEqual([...env].sort());
      expect((await run(agent, id, ['echo', 'a b', 'c'])).stdout).toBe('a b c\n');
      expect((await run(agent, id, ['pwd'], { cwd: '/work/deep/dir' })).stdout).toBe('/work/deep/dir\n');
      const user = { uid: 1000, gid: 1001, additionalGids: [1002, 1003] };
      expect((await run(agent, id, ['id', '-u'], { user })).stdout).toBe('1000\n');
      expect((await run(agent, id, ['id', '-g'], { user })).stdout).toBe('1001\n');
      await agent.destroyContainer(id);
    });

    it("sets a process's oom_score_adj, and refuses one out of range", async () => {
      const id = await container();
      const adj = (oomScoreAdj: number) => run(agent, id, ['cat', '/proc/self/oom_score_adj'], { oomScoreAdj });
      expect((await adj(500)).stdout).toBe('500\n');
      await expect(adj(1001)).rejects.toThrow(InvalidArgumentError);
      await agent.destroyContainer(id);
    });

    itUnless('lowerOomScore', "lowers a process's oom_score_adj below the agent's (as root may)", async () => {
      const id = await container();
      const r = await run(agent, id, ['cat', '/proc/self/oom_score_adj'], { oomScoreAdj: -500 });
      expect(r.stdout).toBe('-500\n');
      await agent.destroyContainer(id);
    });

    itUnless(
      'seccomp',
      "applies a container's seccomp filter to its processes: names, errno, arguments, kernel, user",
      async () => {
        const id = `conf-${++n}`;
        // A UTS namespace of its own: a sethostname that got through would not touch the host's.
        await agent.createContainer({ id, rootfs: h.rootfs(id), hostname: 'seccomp-case' });
        const newUser = { index: 0, op: 'MASKED_EQ' as const, value: 0x10000000, value2: 0x10000000 };
        await agent.setSeccomp(id, {
          defaultAction: 'allow',
          architectures: ['x86_64', 'x86', 'x32'],
          rules: [
            { names: ['mkdir', 'mkdirat', 'no_such_call'], action: 'errno', args: [] },
            { names: ['sethostname'], action: 'errno', errno: 5, args: [] },
            { names: ['unshare'], action: 'errno', args: [newUser] },
            { names: ['chmod', 'fchmodat'], action: 'errno', args: [], minKernel: '99.0' },
            { names: ['chown', 'fchownat'], action: 'errno', args: [], belowKernel: '99.0' },
          ],
        });
        expect((await run(agent, id, ['grep', '^Seccomp:', '/proc/self/status'])).stdout).toBe('Seccomp:\t2\n');
        expect(await run(agent, id, ['mkdir', '/x'])).toEqual({
          stdout: '',
          stderr: "mkdir: can't create directory '/x': Operation not permitted\n",
          status: { exitCode: 1 },
        });
        // Another user: the filter goes in before the credentials change drops CAP_SYS_ADMIN.
        const user = { uid: 1000, gid: 1000, additionalGids: [] };
        expect((await run(agent, id, ['mkdir', '/tmp/y'], { user })).stderr).toContain('Operation not permitted');
        expect((await run(agent, id, ['hostname', 'blocked'])).stderr).toBe(
          'hostname: sethostname: Input/output error\n',
        );
        expect((await run(agent, id, ['unshare', '-U', 'true'])).stderr).toContain('Operation not permitted');
        expect((await run(agent, id, ['unshare', '-i', 'true'])).status).toEqual({ exitCode: 0 });
        expect((await run(agent, id, ['chmod', '700', '/tmp'])).status).toEqual({ exitCode: 0 });
        expect((await run(agent, id, ['chown', '0', '/tmp'])).stderr).toContain('Operation not permitted');
        await agent.setSeccomp(id, null);
        expect((await run(agent, id, ['grep', '^Seccomp:', '/proc/self/status'])).stdout).toBe('Seccomp:\t0\n');
        expect((await run(agent, id, ['mkdir', '/x'])).status).toEqual({ exitCode: 0 });
        await agent.destroyContainer(id);
      },
    );

    itUnless('seccomp', 'gives each container its own filter, the same one compiled once or another', async () => {
      const mkdirRefused = {
        defaultAction: 'allow' as const,
        architectures: [],
        rules: [{ names: ['mkdir', 'mkdirat'], action: 'errno' as const, args: [] }],
      };
      const rmdirRefused = { ...mkdirRefused, rules: [{ ...mkdirRefused.rules[0], names: ['rmdir'] }] };
      const [a, b, c] = [await container(), await container(), await container()];
      await agent.setSeccomp(a, mkdirRefused);
      await agent.setSeccomp(b, mkdirRefused);
      await agent.setSeccomp(c, rmdirRefused);
      for (const id of [a, b]) expect((await run(agent, id, ['mkdir', '/d'])).status).toEqual({ exitCode: 1 });
      expect((await run(agent, c, ['mkdir', '/d'])).status).toEqual({ exitCode: 0 });
      expect((await run(agent, c, ['rmdir', '/d'])).stderr).toContain('Operation not permitted');
      // The first container's filter outlives the others'.
      await agent.destroyContainer(b);
      await agent.destroyContainer(c);
      expect((await run(agent, a, ['mkdir', '/d'])).status).toEqual({ exitCode: 1 });
      await agent.destroyContainer(a);
    });

    itUnless(
      'seccomp',
      'refuses a seccomp filter it cannot build, and then runs nothing of the container unfiltered',
      async () => {
        const id = await container();
        const filter = { defaultAction: 'allow' as const, architectures: ['no_such_arch'], rules: [] };
        await expect(agent.setSeccomp(id, filter)).rejects.toThrow('seccomp: unknown architecture "no_such_arch"');
        // The host may have sent the init right behind: it dies at its first system call (SIGSYS).
        expect((await run(agent, id, ['true'])).status).toEqual({ exitCode: 159, signal: 31 });
        await agent.destroyContainer(id);
      },
    );

    it('carries stdin to stdout, stderr apart, and EOF both ways', async () => {
      const id = await container();
      const p = await agent.startProcess(spec(id, ['cat'], { stdin: true }));
      const done = finish(p);
      p.stdin!.write('hello ');
      p.stdin!.end('world\n');
      expect(await done).toEqual({ stdout: 'hello world\n', stderr: '', status: { exitCode: 0 } });
      expect(await run(agent, id, ['sh', '-c', 'echo out; echo err >&2'])).toEqual({
        stdout: 'out\n',
        stderr: 'err\n',
        status: { exitCode: 0 },
      });
      await agent.destroyContainer(id);
    });

    it("reports exit codes, and refuses a missing command (127) and a non-executable file (126) in runc's words", async () => {
      const id = await container();
      expect((await run(agent, id, ['sh', '-c', 'exit 7'])).status).toEqual({ exitCode: 7 });
      expect((await run(agent, id, ['false'])).status).toEqual({ exitCode: 1 });
      const missing = agent.startProcess(spec(id, ['no-such-command']));
      await expect(missing).rejects.toBeInstanceOf(NotFoundError);
      await expect(agent.startProcess(spec(id, ['no-such-command']))).rejects.toThrow(
        'exec: "no-such-command": executable file not found in $PATH',
      );
      await expect(agent.startProcess(spec(id, ['/no/such']))).rejects.toThrow(
        'exec: "/no/such": stat /no/such: no such file or directory',
      );
      await agent.writeFile(id, '/tmp/plain', Buffer.from('not a program\n'), 0o644);
      const plain = agent.startProcess(spec(id, ['/tmp/plain']));
      await expect(plain).rejects.toBeInstanceOf(InvalidArgumentError);
      await expect(agent.startProcess(spec(id, ['/tmp/plain']))).rejects.toThrow(
        'exec: "/tmp/plain": permission denied',
      );
      await agent.destroyContainer(id);
    });

    it('delivers signals: the default action kills with 128+n, a trap runs, an ignored TERM needs KILL', async () => {
      const id = await container();
      const init = await agent.startProcess(spec(id, ['sleep', '1000']));
      const slept = await agent.startProcess(spec(id, ['sleep', '100']));
      await agent.signalProcess(slept.processId, 15);
      expect((await finish(slept)).status).toEqual({ exitCode: 143, signal: 15 });
      await expect(agent.signalProcess(slept.processId, 15)).rejects.toBeInstanceOf(NotFoundError);
      // Stdin stays open: the shell waits in `read` (a builtin, so the trap runs at once).
      const trapped = await agent.startProcess(
        spec(id, ['sh', '-c', "trap 'echo got; exit 3' TERM; echo ready; read x"], { stdin: true }),
      );
      await waitForOutput(trapped.stdout, /ready/);
      await agent.signalProcess(trapped.processId, 15);
      // A TERM that lands after `echo ready` but before read(2) has begun is only recorded by the
      // shell (busybox ash), and read would then wait on stdin for good: its end lets read return,
      // and the recorded trap runs. Without the TERM delivered, the script would end with 0.
      trapped.stdin!.end();
      const t = await finish(trapped);
      expect(t.status).toEqual({ exitCode: 3 });
      expect(t.stdout).toBe('got\n'); // "ready" was read by waitForOutput
      const ignoring = await agent.startProcess(spec(id, ['sh', '-c', "trap '' TERM; echo ready; sleep 1000"]));
      await waitForOutput(ignoring.stdout, /ready/);
      await agent.signalProcess(ignoring.processId, 15);
      await agent.signalProcess(ignoring.processId, 9);
      expect((await finish(ignoring)).status).toEqual({ exitCode: 137, signal: 9 });
      await expect(agent.signalProcess(init.processId, 0)).rejects.toBeInstanceOf(InvalidArgumentError);
      await agent.destroyContainer(id);
    });

    itUnless(
      'podPause',
      "makes the pod's pause: no rootfs, /pause as PID 1 of the namespace a peer joins, reaping its orphans, ended by TERM with 0",
      async () => {
        const pod = `conf-${++n}`;
        await expect(agent.createContainer({ id: pod, podPause: true, rootfs: h.rootfs(pod) })).rejects.toBeInstanceOf(
          InvalidArgumentError,
        );
        await agent.createContainer({ id: pod, podPause: true, hostname: 'pause-case' });
        const pause = await agent.startProcess(spec(pod, ['/pause']));
        const peer = `conf-${++n}`;
        await agent.createContainer({ id: peer, rootfs: h.rootfs(peer), pidPeer: pod });
        await agent.startProcess(spec(peer, ['sleep', '1000']));
        expect((await run(agent, peer, ['cat', '/proc/1/cmdline'])).stdout).toBe('/pause\0');
        // An orphan (the subshell's sleep) goes to the pause, which reaps it: no zombie is left.
        const orphaned = await run(agent, peer, [
          'sh',
          '-c',
          "(sleep 0.2 &); sleep 2; grep -l '^State:.*Z' /proc/[0-9]*/status; echo done",
        ]);
        expect(orphaned.stdout).toBe('done\n');
        // Nothing of an image: the root holds the pause alone (with /proc, /sys, /dev).
        await expect(agent.readFile(pod, '/etc/passwd', 4096)).rejects.toBeInstanceOf(NotFoundError);
        await agent.signalProcess(pause.processId, 15);
        expect((await finish(pause)).status).toEqual({ exitCode: 0 });
        await agent.destroyContainer(peer);
        await agent.destroyContainer(pod);
      },
    );

    itUnless('deviceNodes', "makes a container's device nodes under its /dev, directories on the way", async () => {
      const id = `conf-${++n}`;
      const tun = { path: '/dev/net/tun', type: 'c' as const, major: 10, minor: 200, mode: 0o666 };
      const fuse = { path: '/dev/fuse', type: 'c' as const, major: 10, minor: 229, mode: 0o640 };
      await agent.createContainer({ id, rootfs: h.rootfs(id), security: { deviceNodes: [tun, fuse] } });
      const r = await run(agent, id, ['stat', '-c', '%n %F %t:%T %a %u', '/dev/net/tun', '/dev/fuse']);
      expect(r.stdout).toBe(
        '/dev/net/tun character special file a:c8 666 0\n/dev/fuse character special file a:e5 640 0\n',
      );
      await agent.destroyContainer(id);
      // A node outside /dev is refused before anything is made.
      const bad = `conf-${++n}`;
      await expect(
        agent.createContainer({
          id: bad,
          rootfs: h.rootfs(bad),
          security: { deviceNodes: [{ ...tun, path: '/tmp/tun' }] },
        }),
      ).rejects.toBeInstanceOf(InvalidArgumentError);
    });

    itUnless(
      'deviceCgroup',
      "a default container's device program: mknod of the serial console and a disk works, their open is EPERM, /dev/null still works; a privileged one opens them",
      async () => {
        // The VM's serial console (ttyS0) and its first disk (vda's numbers when it has one),
        // made in the container's own /dev.
        const script = [
          'd=$(cat /sys/class/block/vda/dev 2>/dev/null || echo 254:0)',
          'mknod /dev/s c 4 64 && mknod /dev/d b ${d%:*} ${d#*:} && echo made',
          'timeout 10 sh -c \'printf "" > /dev/s\' && echo console opened',
          'timeout 10 dd if=/dev/d of=/dev/null bs=512 count=1 && echo disk opened',
          'echo x > /dev/null && head -c 4 /dev/urandom | wc -c',
          'exec 3<>/dev/net/tun && echo tun opened',
        ].join('\n');
        const tun = { path: '/dev/net/tun', type: 'c' as const, major: 10, minor: 200, mode: 0o666 };
        const plain = deviceRules(defaultSecurity(false))!;
        const id = `conf-${++n}`;
        await agent.createContainer({
          id,
          rootfs: h.rootfs(id),
          security: { deviceRules: [...plain, { type: 'c', major: 10, minor: 200, access: 'rw' }], deviceNodes: [tun] },
        });
        const r = await run(agent, id, ['sh', '-c', script]);
        expect(r.stdout).toBe('made\n4\ntun opened\n');
        expect(r.stderr).toContain("sh: can't create /dev/s: Operation not permitted");
        expect(r.stderr).toContain("dd: can't open '/dev/d': Operation not permitted");
        await agent.destroyContainer(id);

        // Privileged: no program, every device of the VM.
        const priv = `conf-${++n}`;
        await agent.createContainer({ id: priv, rootfs: h.rootfs(priv), security: { deviceNodes: [tun] } });
        const p = await run(agent, priv, ['sh', '-c', script]);
        expect(p.stdout).toBe(
          (await run(agent, priv, ['test', '-e', '/sys/class/block/vda'])).status.exitCode === 0
            ? 'made\nconsole opened\ndisk opened\n4\ntun opened\n'
            : 'made\nconsole opened\n4\ntun opened\n',
        );
        await agent.destroyContainer(priv);
      },
    );

    it('resizes a terminal, and refuses to resize a process without one', async () => {
      const id = await container();
      const p = await agent.startProcess(spec(id, ['sh'], { terminal: true, stdin: true, rows: 24, cols: 80 }));
      await agent.resizeTerminal(p.processId, 33, 111);
      const out = finish(p);
      p.stdin!.write('stty size\n');
      p.stdin!.end('exit 0\n');
      const r = await out;
      expect(r.stdout).toContain('33 111\r\n');
      expect(r.stderr).toBe('');
      const plain = await agent.startProcess(spec(id, ['sleep', '100']));
      await expect(agent.resizeTerminal(plain.processId, 10, 10)).rejects.toBeInstanceOf(InvalidArgumentError);
      await agent.destroyContainer(id);
    });

    it('writes and reads small files inside the container; missing is not found, ".." is refused', async () => {
      const id = await container();
      await agent.writeFile(id, '/etc/conf.txt', Buffer.from('a=1\n'), 0o644);
      expect((await agent.readFile(id, '/etc/conf.txt', 4096)).toString()).toBe('a=1\n');
      expect((await run(agent, id, ['cat', '/etc/conf.txt'])).stdout).toBe('a=1\n');
      await expect(agent.readFile(id, '/etc/conf.txt', 2)).rejects.toBeInstanceOf(InvalidArgumentError);
      await expect(agent.readFile(id, '/etc/none', 4096)).rejects.toBeInstanceOf(NotFoundError);
      await expect(agent.readFile(id, '/etc/../etc/conf.txt', 4096)).rejects.toBeInstanceOf(InvalidArgumentError);
      await expect(agent.readFile('no-such', '/etc/conf.txt', 4096)).rejects.toBeInstanceOf(NotFoundError);
      await agent.destroyContainer(id);
    });

    it("lists one container's processes from /proc (docker top): init and exec, ids, times; not another container's", async () => {
      const id = await container();
      const other = await container();
      const init = await agent.startProcess(spec(id, ['sleep', '100']));
      const exec = await agent.startProcess(
        spec(id, ['sleep', '101'], { user: { uid: 1000, gid: 1001, additionalGids: [] } }),
      );
      const elsewhere = await agent.startProcess(spec(other, ['sleep', '102']));
      const t = await agent.processTable(id);
      expect(t.truncated).toBe(false);
      expect(t.tasks.map((x) => [x.pid, x.comm, x.args, x.uid, x.gid])).toEqual([
        [init.pid, 'sleep', ['sleep', '100'], 0, 0],
        [exec.pid, 'sleep', ['sleep', '101'], 1000, 1001],
      ]);
      expect(t.clockTicks).toBeGreaterThan(0);
      for (const x of t.tasks) {
        // A sleep just started may not have gone to sleep yet in a slow guest: running, sleeping,
        // or in a disk wait while its binary's pages come in over the share (seen once in CI:
        // "D"). Never stopped, traced or a zombie.
        expect(x.state).toMatch(/^[RSD]$/);
        expect(x.startTicks / t.clockTicks).toBeLessThanOrEqual(t.uptimeMs / 1000 + 1);
        expect(x.rssKiB).toBeGreaterThan(0);
        expect(x.rssKiB).toBeLessThanOrEqual(t.memTotalKiB);
      }
      expect((await agent.processTable(other)).tasks.map((x) => x.pid)).toEqual([elsewhere.pid]);
      await expect(agent.processTable('conf-none')).rejects.toBeInstanceOf(NotFoundError);
      await agent.destroyContainer(id);
      await agent.destroyContainer(other);
    });

    it('lists running processes to a new connection, which takes their streams over', async () => {
      const id = await container();
      const p = await agent.startProcess(spec(id, ['sh', '-c', 'read x; echo got; exit 5'], { stdin: true }));
      p.exited.catch(() => undefined); // the old connection's handle fails when it closes
      agent = await h.reconnect();
      const listed = await agent.reattach();
      const again = listed.find((x) => x.processId === p.processId)!;
      expect(again).toMatchObject({ processId: p.processId, containerId: id, pid: p.pid });
      const done = finish(again);
      again.stdin!.write('hi\n');
      expect(await done).toEqual({ stdout: 'got\n', stderr: '', status: { exitCode: 5 } });
      await agent.destroyContainer(id);
    });

    /** A process left running by one connection is taken over by one made as `reconnect` does. */
    const expectTakenOver = async (reconnect: () => Promise<Agent>) => {
      const id = await container();
      const p = await agent.startProcess(spec(id, ['sh', '-c', 'read x; echo got; exit 5'], { stdin: true }));
      p.exited.catch(() => undefined); // the old connection's handle fails when it closes
      agent = await reconnect();
      expect((await agent.version()).protocol).toBe(PROTOCOL_VERSION);
      const again = (await agent.reattach()).find((x) => x.processId === p.processId)!;
      expect(again).toMatchObject({ processId: p.processId, containerId: id, pid: p.pid });
      const done = finish(again);
      again.stdin!.write('hi\n');
      expect(await done).toEqual({ stdout: 'got\n', stderr: '', status: { exitCode: 5 } });
      await agent.destroyContainer(id);
    };

    itUnless('wire', 'answers a connection made at once after one that left a stream frame half-sent', () =>
      expectTakenOver(() => h.reconnectMidFrame!(['stream'], 3072)),
    );

    itUnless('wire', 'answers a connection made at once after one that left a frame half-sent on both channels', () =>
      expectTakenOver(() => h.reconnectMidFrame!(['control', 'stream'], 3072)),
    );

    itUnless('wire', 'answers a connection made at once after one that left frames a few bytes short', () =>
      // The new SYNCs' first bytes end those frames.
      expectTakenOver(() => h.reconnectMidFrame!(['control', 'stream'], 10)),
    );

    it('lists the interfaces: lo up with 127.0.0.1/8, the NIC down and unaddressed until configured', async () => {
      const ifs = await agent.listInterfaces();
      expect(ifs.find((i) => i.name === 'lo')).toMatchObject({ up: true, address: '127.0.0.1', prefix: 8 });
      const nic = ifs.find((i) => i.name === h.nic.name);
      expect(nic).toMatchObject({ mac: h.nic.mac, up: false });
      expect(nic?.address).toBeUndefined();
    });

    it('configures the NIC (address, MTU, up) after checking its MAC, and adds routes', async () => {
      const { name, mac } = h.nic;
      await expect(agent.configureInterface({ name, mac: '02:00:00:00:00:99', up: true })).rejects.toBeInstanceOf(
        InvalidArgumentError,
      );
      await expect(agent.configureInterface({ name: 'eth9', up: true })).rejects.toBeInstanceOf(NotFoundError);
      await agent.configureInterface({ name, mac, address: '10.88.0.2', prefix: 24, mtu: 1400, up: true });
      expect((await agent.listInterfaces()).find((i) => i.name === name)).toEqual({
        name,
        mac,
        mtu: 1400,
        up: true,
        address: '10.88.0.2',
        prefix: 24,
      });
      await agent.addRoute({ destination: '0.0.0.0', prefix: 0, gateway: '10.88.0.1' });
      await expect(agent.addRoute({ destination: '0.0.0.0', prefix: 0, gateway: '10.88.0.1' })).rejects.toBeInstanceOf(
        ConflictError,
      );
      await agent.addRoute({ destination: '10.99.0.0', prefix: 16, device: name });
      await expect(agent.addRoute({ destination: '10.98.0.0', prefix: 16, device: 'eth9' })).rejects.toBeInstanceOf(
        NotFoundError,
      );
      await expect(agent.addRoute({ destination: '10.98.0.1', prefix: 16, device: name })).rejects.toBeInstanceOf(
        InvalidArgumentError,
      );
      await agent.configureInterface({ name, up: false });
      expect((await agent.listInterfaces()).find((i) => i.name === name)?.up).toBe(false);
      // Address 0.0.0.0 removes the address (a VM cleaned for another pod).
      await agent.configureInterface({ name, address: '0.0.0.0', prefix: 0 });
      expect((await agent.listInterfaces()).find((i) => i.name === name)).toEqual({ name, mac, mtu: 1400, up: false });
    });

    it('gives the NIC secondary addresses (--link-local-ip); a new address replaces them all, 0.0.0.0 removes them', async () => {
      const { name, mac } = h.nic;
      const ll = [
        { address: '169.254.8.8', prefix: 16 },
        { address: '169.254.9.9', prefix: 16 },
      ];
      await agent.configureInterface({ name, mac, address: '10.88.0.4', prefix: 24, secondary: ll, up: true });
      expect((await agent.listInterfaces()).find((i) => i.name === name)).toEqual({
        name,
        mac,
        mtu: 1400,
        up: true,
        address: '10.88.0.4',
        prefix: 24,
        secondary: ll,
      });
      // The interface going down keeps its addresses; a new address (a later connect) replaces them.
      await agent.configureInterface({ name, up: false });
      await agent.configureInterface({
        name,
        address: '10.88.0.5',
        prefix: 24,
        secondary: [{ address: '169.254.7.7', prefix: 16 }],
      });
      expect((await agent.listInterfaces()).find((i) => i.name === name)).toMatchObject({
        address: '10.88.0.5',
        secondary: [{ address: '169.254.7.7', prefix: 16 }],
      });
      await agent.configureInterface({ name, address: '10.88.0.6', prefix: 24 });
      expect((await agent.listInterfaces()).find((i) => i.name === name)?.secondary).toBeUndefined();
      await agent.configureInterface({ name, address: '10.88.0.6', prefix: 24, secondary: ll });
      await agent.configureInterface({ name, address: '0.0.0.0', prefix: 0 });
      expect((await agent.listInterfaces()).find((i) => i.name === name)).toEqual({ name, mac, mtu: 1400, up: false });
      await expect(agent.configureInterface({ name, secondary: ll })).rejects.toBeInstanceOf(InvalidArgumentError);
    });

    it('gives the NIC a global IPv6 address and an IPv6 default route; a new address, ::, or the link going down removes it', async () => {
      const { name, mac } = h.nic;
      const nic = async () => (await agent.listInterfaces()).find((i) => i.name === name);
      await agent.configureInterface({
        name,
        mac,
        address: '10.88.0.7',
        prefix: 24,
        address6: '2001:db8:27::7',
        prefix6: 64,
        up: true,
      });
      expect(await nic()).toMatchObject({ address: '10.88.0.7', address6: '2001:db8:27::7', prefix6: 64, up: true });
      await agent.addRoute({ destination: '::', prefix: 0, gateway: '2001:db8:27::ffff', device: name });
      await expect(
        agent.addRoute({ destination: '::', prefix: 0, gateway: '2001:db8:27::ffff', device: name }),
      ).rejects.toBeInstanceOf(ConflictError);
      await expect(agent.addRoute({ destination: '2001:db8:28::', prefix: 64, device: 'eth9' })).rejects.toBeInstanceOf(
        NotFoundError,
      );
      // A new address replaces the old one; :: with prefix 0 leaves none.
      await agent.configureInterface({ name, address6: '2001:db8:27::8', prefix6: 64 });
      expect(await nic()).toMatchObject({ address6: '2001:db8:27::8', prefix6: 64 });
      await agent.configureInterface({ name, address6: '::', prefix6: 0 });
      expect((await nic())?.address6).toBeUndefined();
      // The kernel's rule: an interface brought down loses its IPv6 addresses.
      await agent.configureInterface({ name, address6: '2001:db8:27::9', prefix6: 64 });
      await agent.configureInterface({ name, up: false });
      expect(await nic()).toEqual({ name, mac, mtu: (await nic())!.mtu, up: false, address: '10.88.0.7', prefix: 24 });
      await agent.configureInterface({ name, address: '0.0.0.0', prefix: 0 });
    });

    it('gives the NIC another MAC (after checking the old one), up or down, and back', async () => {
      const { name, mac } = h.nic;
      const other = '02:42:ac:11:00:99';
      await agent.configureInterface({ name, mac, setMac: other, address: '10.88.0.3', prefix: 24, up: true });
      expect((await agent.listInterfaces()).find((i) => i.name === name)).toMatchObject({
        mac: other,
        up: true,
        address: '10.88.0.3',
      });
      // The old MAC no longer names it; the new one does. An up interface stays up across a change.
      await expect(agent.configureInterface({ name, mac, setMac: other })).rejects.toBeInstanceOf(InvalidArgumentError);
      await agent.configureInterface({ name, mac: other, setMac: mac });
      expect((await agent.listInterfaces()).find((i) => i.name === name)).toMatchObject({ mac, up: true });
      await expect(agent.configureInterface({ name, setMac: '01:00:5e:00:00:01' })).rejects.toBeInstanceOf(
        InvalidArgumentError,
      );
      await agent.configureInterface({ name, address: '0.0.0.0', prefix: 0, up: false });
    });

    it('mounts a tmpfs in a container (with options, read-only) and unmounts it', async () => {
      const id = await container();
      await agent.mount({ containerId: id, path: '/mnt/scratch', fstype: 'tmpfs', options: 'size=1m,mode=1777' });
      await agent.writeFile(id, '/mnt/scratch/a', Buffer.from('in tmpfs\n'), 0o644);
      expect((await agent.readFile(id, '/mnt/scratch/a', 4096)).toString()).toBe('in tmpfs\n');
      expect((await run(agent, id, ['cat', '/mnt/scratch/a'])).stdout).toBe('in tmpfs\n');
      await agent.unmount(id, '/mnt/scratch');
      await expect(agent.readFile(id, '/mnt/scratch/a', 4096)).rejects.toBeInstanceOf(NotFoundError);
      await expect(agent.unmount(id, '/mnt/scratch')).rejects.toBeInstanceOf(NotFoundError);
      await agent.mount({ containerId: id, path: '/ro', fstype: 'tmpfs', readOnly: true });
      await expect(agent.writeFile(id, '/ro/x', Buffer.from('x'), 0o644)).rejects.toBeInstanceOf(InvalidArgumentError);
      await expect(
        agent.mount({ containerId: id, path: '/x', fstype: 'tmpfs', options: 'exec' }),
      ).rejects.toBeInstanceOf(InvalidArgumentError);
      await expect(agent.mount({ containerId: 'no-such', path: '/x', fstype: 'tmpfs' })).rejects.toBeInstanceOf(
        NotFoundError,
      );
      await expect(
        agent.mount({ containerId: id, path: '/x', fstype: 'virtiofs', source: 'no-such-tag' }),
      ).rejects.toBeInstanceOf(NotFoundError);
      await agent.destroyContainer(id);
    });

    itUnless('volumeShare', 'mounts a directory of the volume share; two mounts of it see the same files', async () => {
      const tag = h.volumes!.tag;
      const id = await container();
      await agent.mount({ containerId: id, path: '/data', fstype: 'virtiofs', source: tag, subpath: 'vol1' });
      await agent.mount({
        containerId: id,
        path: '/data-ro',
        fstype: 'virtiofs',
        source: tag,
        subpath: 'vol1',
        readOnly: true,
      });
      await agent.writeFile(id, '/data/note', Buffer.from('shared\n'), 0o644);
      expect((await agent.readFile(id, '/data-ro/note', 4096)).toString()).toBe('shared\n');
      await expect(agent.writeFile(id, '/data-ro/other', Buffer.from('x'), 0o644)).rejects.toBeInstanceOf(
        InvalidArgumentError,
      );
      await agent.destroyContainer(id);
    });

    /** A new container on upper disk `disk` with its diskdir `volumes/<name>` mounted at `at`. */
    const onDisk = async (disk: string, name: string, at: string): Promise<string> => {
      const id = `conf-${++n}`;
      await agent.createContainer({ id, rootfs: h.rootfs(id), upperDisk: disk });
      await agent.mount({ containerId: id, path: at, fstype: 'diskdir', subpath: `volumes/${name}` });
      return id;
    };

    itUnless(
      'upperDisk',
      "mounts a directory of the container's upper disk (diskdir): its files outlive the container, for the next one on that disk, and are not in the container's root",
      async () => {
        const disk = await h.upperDisk!();
        const first = await onDisk(disk, 'data', '/data');
        await agent.writeFile(first, '/data/x', Buffer.from('kept\n'), 0o644);
        await expect(agent.readFile(first, '/x', 4096)).rejects.toBeInstanceOf(NotFoundError);
        await expect(agent.readFile(first, '/volumes/data/x', 4096)).rejects.toBeInstanceOf(NotFoundError);
        await agent.destroyContainer(first);
        const next = await onDisk(disk, 'data', '/data');
        expect((await agent.readFile(next, '/data/x', 4096)).toString()).toBe('kept\n');
        await agent.destroyContainer(next);
      },
    );

    it('refuses a diskdir mount with a subpath other than volumes/<name>, and for a container without an upper disk', async () => {
      const id = await container();
      for (const subpath of ['upper', 'volumes/..', 'volumes/a/b', '../x'])
        await expect(
          agent.mount({ containerId: id, path: '/data', fstype: 'diskdir', subpath }),
        ).rejects.toBeInstanceOf(InvalidArgumentError);
      await expect(
        agent.mount({ containerId: id, path: '/data', fstype: 'diskdir', subpath: 'volumes/data' }),
      ).rejects.toBeInstanceOf(InvalidArgumentError);
      await agent.destroyContainer(id);
    });

    itUnless(
      'diskFilesystem',
      "makes a missing diskdir root's with mode 0755; keeps one the host put on the disk as it was (owner, mode, files)",
      async () => {
        const disk = await h.upperDisk!((root) => {
          const seeded = path.join(root, 'volumes', 'seeded');
          fs.mkdirSync(seeded, { recursive: true });
          fs.writeFileSync(path.join(seeded, 'f'), 'from the image\n');
          fs.chmodSync(seeded, 0o750);
          fs.chownSync(seeded, 1000, 1001);
        });
        const id = await onDisk(disk, 'seeded', '/seeded');
        await agent.mount({ containerId: id, path: '/fresh', fstype: 'diskdir', subpath: 'volumes/fresh' });
        expect((await run(agent, id, ['stat', '-c', '%a %u:%g', '/seeded', '/fresh'])).stdout).toBe(
          '750 1000:1001\n755 0:0\n',
        );
        expect((await agent.readFile(id, '/seeded/f', 4096)).toString()).toBe('from the image\n');
        await agent.destroyContainer(id);
      },
    );

    itUnless('diskFilesystem', 'refuses a diskdir that is a symlink on the disk, without following it', async () => {
      const disk = await h.upperDisk!((root) => {
        fs.mkdirSync(path.join(root, 'volumes'));
        fs.symlinkSync('../upper', path.join(root, 'volumes', 'data'));
      });
      const id = await onDisk(disk, 'other', '/other');
      await expect(
        agent.mount({ containerId: id, path: '/data', fstype: 'diskdir', subpath: 'volumes/data' }),
      ).rejects.toBeInstanceOf(InvalidArgumentError);
      // Nothing was mounted at /data: a file written there lands in the container's own root.
      await agent.writeFile(id, '/data/y', Buffer.from('root\n'), 0o644);
      await expect(agent.readFile(id, '/other/y', 4096)).rejects.toBeInstanceOf(NotFoundError);
      await agent.destroyContainer(id);
    });

    /** An ARCHIVE process of container `id` (`input`: its stdin): stdout, stderr and exit status. */
    const archiveIn = async (
      id: string,
      req: ArchiveRequest extends infer R ? (R extends unknown ? Omit<R, 'containerId' | 'processId'> : never) : never,
      input?: Buffer,
    ): Promise<{ out: Buffer; err: string; code: number }> => {
      const p = await agent.archive!({ ...req, containerId: id, processId: `ar-${++n}` } as ArchiveRequest);
      if (input) p.stdin!.end(input);
      const [out, err, st] = await Promise.all([collect(p.stdout), collect(p.stderr), p.exited]);
      return { out, err: err.toString(), code: st.exitCode };
    };

    itUnless(
      'diskFilesystem',
      "stats, tars out and extracts into a diskdir through ARCHIVE_ROOT (its mount point): the volume's files, not the root's",
      async () => {
        const disk = await h.upperDisk!();
        const id = await onDisk(disk, 'data', '/data');
        await agent.writeFile(id, '/data/seed', Buffer.from('volume\n'), 0o644);
        // Without a root, the clone of the container's root has only the empty mount point.
        expect((await archiveIn(id, { kind: 'stat', path: '/data/seed', follow: false })).code).toBe(2);
        const st = await archiveIn(id, { kind: 'stat', path: '/seed', follow: false, root: '/data' });
        expect(st.code).toBe(0);
        expect(st.out.toString().split(' ')[1]).toBe('7');
        const got = await archiveIn(id, { kind: 'get', path: '/', follow: false, name: 'data', root: '/data' });
        expect(got.code).toBe(0);
        expect((await tarNames(got.out)).sort()).toEqual(['data/', 'data/seed']);
        const pack = tar.pack();
        pack.entry({ name: 'in', mode: 0o644 }, 'put\n');
        pack.finalize();
        const put = await archiveIn(
          id,
          { kind: 'put', path: '/', noOverwriteDirNonDir: false, root: '/data' },
          await collect(pack as unknown as Readable),
        );
        expect(put).toMatchObject({ code: 0 });
        expect((await agent.readFile(id, '/data/in', 4096)).toString()).toBe('put\n');
        expect((await archiveIn(id, { kind: 'stat', path: '/', follow: false, root: '/nope' })).code).toBe(2);
        await agent.destroyContainer(id);
      },
    );
  });
}
