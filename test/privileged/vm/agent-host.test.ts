/**
 * The real guest agent in host test mode (`podvisor-agent --ctl --io --share`, no VM) driven
 * by the real AgentClient: containers are real mount + PID namespaces pivoted into a busybox
 * rootfs in a temporary share directory. The same scenarios run inside real VMs in
 * agent-vm.test.ts; here they are fast and show agent bugs without a boot.
 */
import { ChildProcess, spawn } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { InvalidArgumentError, NotFoundError, UnavailableError } from '../../../src/errors';
import { AgentClient } from '../../../src/vm/agent/client';
import { Limits, PROTOCOL_VERSION } from '../../../src/vm/agent/protocol';
import { mountsUnder } from '../../helpers/leaks';
import { buildAgent, collect, finish, makeBusyboxRootfs, run, spec, waitForOutput } from '../../helpers/agent-fixtures';

jest.setTimeout(60_000);

let tmp: string;
let agentBin: string;
let share: string;
const agents: ChildProcess[] = [];
const guestPids: number[] = [];

interface Running {
  proc: ChildProcess;
  ctl: string;
  io: string;
  log: () => string;
}

/** Start an agent in host test mode on fresh socket paths. */
function startAgent(name: string): Running {
  const ctl = path.join(tmp, `${name}.ctl`);
  const io = path.join(tmp, `${name}.io`);
  const proc = spawn(agentBin, ['--ctl', ctl, '--io', io, '--share', share], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  proc.stderr!.on('data', (c: Buffer) => (log += c.toString()));
  agents.push(proc);
  return { proc, ctl, io, log: () => log };
}

function connect(a: Running): Promise<AgentClient> {
  return AgentClient.connect({ ctlPath: a.ctl, ioPath: a.io, timeoutMs: 5000 });
}

/** A container on its own copy-free rootfs directory under the share. */
function newRootfs(id: string): string {
  const rel = `containers/${id}/rootfs`;
  makeBusyboxRootfs(path.join(share, rel));
  return rel;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(' ')[2] !== 'Z';
  } catch {
    return false;
  }
}

/** Parent pid of /proc/<pid>, or 0 when it is gone. */
function readPpid(pid: string): number {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return 0;
  }
}

async function waitGone(pids: number[], ms = 3000): Promise<number[]> {
  const end = Date.now() + ms;
  for (;;) {
    const left = pids.filter(alive);
    if (left.length === 0 || Date.now() > end) return left;
    await new Promise((r) => setTimeout(r, 50));
  }
}

beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'pv-agent-host-'));
  agentBin = buildAgent(path.join(tmp, 'bin'));
  share = path.join(tmp, 'share');
  fs.mkdirSync(share);
});

afterAll(async () => {
  for (const a of agents) if (a.exitCode === null && a.signalCode === null) a.kill('SIGTERM');
  await Promise.all(
    agents.map((a) => (a.exitCode === null && a.signalCode === null ? new Promise((r) => a.once('exit', r)) : null)),
  );
  const left = await waitGone(guestPids);
  fs.rmSync(tmp, { recursive: true, force: true });
  expect(left).toEqual([]);
  expect(fs.existsSync(tmp)).toBe(false);
});

describe('agent in host test mode', () => {
  let agent: Running;
  let client: AgentClient;

  beforeAll(async () => {
    agent = startAgent('main');
    client = await connect(agent);
  });

  afterAll(async () => {
    await client.shutdown();
    client.close();
    await new Promise((r) => (agent.proc.exitCode !== null ? r(null) : agent.proc.once('exit', r)));
    expect(agent.proc.exitCode).toBe(0);
  });

  it('answers the version handshake and ping', async () => {
    const v = await client.version();
    expect(v.protocol).toBe(PROTOCOL_VERSION);
    expect(v.agent).toMatch(/podvisor-agent/);
    await client.ping();
  });

  it('refuses to change interfaces or routes in the network namespace it shares with the host', async () => {
    await expect(client.configureInterface({ name: 'lo', mtu: 1280 })).rejects.toThrow(
      /network namespace of the agent's own/,
    );
    await expect(client.addRoute({ destination: '10.250.0.0', prefix: 16, device: 'lo' })).rejects.toBeInstanceOf(
      InvalidArgumentError,
    );
    expect(fs.readFileSync('/sys/class/net/lo/mtu', 'utf8').trim()).not.toBe('1280');
  });

  it('runs echo with separate stdout and stderr, and reports exit codes', async () => {
    await client.createContainer({ id: 'echo', rootfs: newRootfs('echo') });
    const r = await run(client, 'echo', ['sh', '-c', 'echo hello; echo oops >&2']);
    expect(r).toEqual({ stdout: 'hello\n', stderr: 'oops\n', status: { exitCode: 0 } });
    expect((await run(client, 'echo', ['sh', '-c', 'exit 7'])).status).toEqual({ exitCode: 7 });
    const p = await client.startProcess(spec('echo', ['sh', '-c', 'echo up; exec sleep 100']));
    guestPids.push(p.pid);
    await waitForOutput(p.stdout, /up/);
    await client.signalProcess(p.processId, 9);
    expect((await finish(p)).status).toEqual({ exitCode: 137, signal: 9 });
    await expect(client.signalProcess(p.processId, 9)).rejects.toBeInstanceOf(NotFoundError);
    await client.destroyContainer('echo');
  });

  it('delivers TERM to a shell that traps it', async () => {
    await client.createContainer({ id: 'term', rootfs: newRootfs('term') });
    const p = await client.startProcess(
      spec('term', ['sh', '-c', 'trap "echo got; exit 3" TERM; echo ready; while :; do sleep 0.05; done']),
    );
    guestPids.push(p.pid);
    const out = collect(p.stdout);
    await waitForOutput(p.stdout, /ready/);
    await client.signalProcess(p.processId, 15);
    expect(await p.exited).toEqual({ exitCode: 3 });
    expect((await out).toString()).toBe('ready\ngot\n');
    await client.destroyContainer('term');
  });

  it('round-trips 20 MB of random bytes through stdin -> cat -> stdout', async () => {
    await client.createContainer({ id: 'cat', rootfs: newRootfs('cat') });
    const data = crypto.randomBytes(20 * 1024 * 1024);
    const p = await client.startProcess(spec('cat', ['cat'], { stdin: true }));
    guestPids.push(p.pid);
    const out = collect(p.stdout);
    p.stdin!.end(data);
    const got = await out;
    expect(got.length).toBe(data.length);
    expect(crypto.createHash('sha256').update(got).digest('hex')).toBe(
      crypto.createHash('sha256').update(data).digest('hex'),
    );
    expect(await p.exited).toEqual({ exitCode: 0 });
    await client.destroyContainer('cat');
  });

  it('shows the new size in a TTY after resizeTerminal', async () => {
    await client.createContainer({ id: 'tty', rootfs: newRootfs('tty') });
    const p = await client.startProcess(
      spec('tty', ['sh', '-c', 'stty size; echo ready; read x; stty size; tty'], {
        terminal: true,
        rows: 24,
        cols: 80,
        stdin: true,
      }),
    );
    guestPids.push(p.pid);
    expect(p.stderr).toBeNull();
    const out = collect(p.stdout);
    await waitForOutput(p.stdout, /ready/);
    await client.resizeTerminal(p.processId, 40, 100);
    p.stdin!.write('go\n');
    expect(await p.exited).toEqual({ exitCode: 0 });
    const text = (await out).toString();
    expect(text).toMatch(/^24 80\r\n/);
    expect(text).toMatch(/\r\n40 100\r\n\/dev\/pts\/0\r\n$/);
    await client.destroyContainer('tty');
  });

  it('runs two processes at once with their own streams; execs join the init PID namespace', async () => {
    await client.createContainer({ id: 'two', rootfs: newRootfs('two'), hostname: 'two-host' });
    const init = await client.startProcess(
      spec('two', ['sh', '-c', 'echo init-up; read x; echo bye'], { stdin: true }),
    );
    guestPids.push(init.pid);
    const initOut = collect(init.stdout);
    await waitForOutput(init.stdout, /init-up/);
    const [a, b] = await Promise.all([
      run(client, 'two', ['sh', '-c', 'for i in $(seq 1 3000); do echo a$i; done']),
      run(client, 'two', ['sh', '-c', 'for i in $(seq 1 3000); do echo b$i >&2; done']),
    ]);
    const expected = (prefix: string) => Array.from({ length: 3000 }, (_, i) => `${prefix}${i + 1}\n`).join('');
    expect(a).toEqual({ stdout: expected('a'), stderr: '', status: { exitCode: 0 } });
    expect(b).toEqual({ stdout: '', stderr: expected('b'), status: { exitCode: 0 } });
    const ns = await run(client, 'two', ['sh', '-c', 'cat /proc/1/cmdline | tr "\\0" " "; echo; hostname; ls /dev']);
    expect(ns.stdout.split('\n')[0]).toBe('sh -c echo init-up; read x; echo bye ');
    expect(ns.stdout.split('\n')[1]).toBe('two-host');
    expect(ns.stdout).toMatch(/null[\s\S]*pts[\s\S]*urandom/);
    init.stdin!.end('x\n');
    expect(await init.exited).toEqual({ exitCode: 0 });
    expect((await initOut).toString()).toBe('init-up\nbye\n');
    await client.destroyContainer('two');
  });

  it('kills the other processes of a container when its init exits', async () => {
    await client.createContainer({ id: 'initdeath', rootfs: newRootfs('initdeath') });
    const init = await client.startProcess(spec('initdeath', ['sh', '-c', 'read x'], { stdin: true }));
    guestPids.push(init.pid);
    const sleeper = await client.startProcess(spec('initdeath', ['sleep', '1000']));
    guestPids.push(sleeper.pid);
    init.stdin!.end('\n');
    expect((await finish(init)).status).toEqual({ exitCode: 0 });
    expect((await finish(sleeper)).status).toEqual({ exitCode: 137, signal: 9 });
    await client.destroyContainer('initdeath');
  });

  it('creates a missing cwd, runs as another user, and refuses a missing command', async () => {
    await client.createContainer({ id: 'user', rootfs: newRootfs('user') });
    const r = await run(client, 'user', ['sh', '-c', 'pwd; id -u; id -g; id -G'], {
      cwd: '/work/deep/dir',
      user: { uid: 1000, gid: 1001, additionalGids: [1002, 1003] },
    });
    expect(r.stdout).toBe('/work/deep/dir\n1000\n1001\n1001 1002 1003\n');
    await expect(client.startProcess(spec('user', ['no-such-command']))).rejects.toThrow(NotFoundError);
    await expect(client.startProcess(spec('user', ['no-such-command']))).rejects.toThrow(
      /executable file not found in \$PATH/,
    );
    await expect(client.startProcess(spec('nope', ['true']))).rejects.toBeInstanceOf(NotFoundError);
    await client.destroyContainer('user');
    await expect(client.destroyContainer('user')).rejects.toBeInstanceOf(NotFoundError);
  });

  it('applies capability sets, ambient ones and no_new_privs as runc; a non-root user keeps only ambient ones', async () => {
    await client.createContainer({ id: 'caps', rootfs: newRootfs('caps') });
    const status = 'grep -E "^(Cap|NoNewPrivs)" /proc/self/status';
    const dflt = 0xa80425fb;
    const sets = { bounding: dflt, effective: dflt, permitted: dflt, inheritable: 0, ambient: 0 };
    const root = await run(client, 'caps', ['sh', '-c', status], { capabilities: sets, noNewPrivs: true });
    expect(root.stdout).toBe(
      'CapInh:\t0000000000000000\nCapPrm:\t00000000a80425fb\nCapEff:\t00000000a80425fb\n' +
        'CapBnd:\t00000000a80425fb\nCapAmb:\t0000000000000000\nNoNewPrivs:\t1\n',
    );
    const user = { uid: 1000, gid: 1000, additionalGids: [] };
    const plain = await run(client, 'caps', ['sh', '-c', status], { capabilities: sets, user });
    expect(plain.stdout).toContain('CapEff:\t0000000000000000\n');
    expect(plain.stdout).toContain('NoNewPrivs:\t0\n');
    // CAP_NET_BIND_SERVICE (10) ambient: it survives the exec of a non-root user.
    const bind = 1 << 10;
    const ambient = await run(client, 'caps', ['sh', '-c', status], {
      capabilities: { ...sets, inheritable: bind, ambient: bind },
      user,
    });
    expect(ambient.stdout).toContain('CapEff:\t0000000000000400\n');
    expect(ambient.stdout).toContain('CapAmb:\t0000000000000400\n');
    // Without sets a process keeps what the agent has (pods recorded before them).
    const all = await run(client, 'caps', ['sh', '-c', 'grep CapBnd /proc/self/status']);
    expect(all.stdout).toBe(`CapBnd:\t${/CapBnd:\t(\w+)/.exec(fs.readFileSync('/proc/self/status', 'utf8'))![1]}\n`);
    await client.destroyContainer('caps');
  });

  it('makes the root read-only and masks and write-protects paths at the first init; refuses sysctls on the host', async () => {
    const rel = newRootfs('paths');
    fs.writeFileSync(path.join(share, rel, 'secret.txt'), 'hidden\n');
    fs.mkdirSync(path.join(share, rel, 'private'));
    fs.writeFileSync(path.join(share, rel, 'private/key'), 'k\n');
    await client.createContainer({
      id: 'paths',
      rootfs: rel,
      security: {
        readonlyRootfs: true,
        maskedPaths: ['/secret.txt', '/private', '/no/such/path', '/proc/keys'],
        readonlyPaths: ['/proc/sys'],
      },
    });
    const script =
      'cat /secret.txt | wc -c; ls /private | wc -l; touch /x; touch /private/y; echo 1 > /proc/sys/kernel/shmmax; cat /proc/keys | wc -c';
    const first = await run(client, 'paths', ['sh', '-c', script]);
    expect(first.stdout).toBe('0\n0\n0\n');
    expect(first.stderr).toBe(
      "touch: /x: Read-only file system\ntouch: /private/y: Read-only file system\nsh: can't create /proc/sys/kernel/shmmax: Read-only file system\n",
    );
    // An exec sees the same; the host's file under the share is untouched.
    expect((await run(client, 'paths', ['cat', '/secret.txt'])).stdout).toBe('');
    expect(fs.readFileSync(path.join(share, rel, 'secret.txt'), 'utf8')).toBe('hidden\n');
    await client.destroyContainer('paths');
    await expect(
      client.createContainer({
        id: 'sysctl',
        rootfs: newRootfs('sysctl'),
        security: { sysctls: ['net.ipv4.ip_forward=1'] },
      }),
    ).rejects.toThrow(/sysctls are set only in a VM/);
    await expect(
      client.createContainer({ id: 'rel', rootfs: newRootfs('rel'), security: { maskedPaths: ['relative'] } }),
    ).rejects.toBeInstanceOf(InvalidArgumentError);
  });

  it('writes and reads small files inside the container and never outside it', async () => {
    const rel = newRootfs('files');
    const root = path.join(share, rel);
    fs.symlinkSync('/', path.join(root, 'escape'));
    fs.symlinkSync('../../../../../../../../..', path.join(root, 'up'));
    fs.symlinkSync('../../../../../../../../etc/passwd', path.join(root, 'etc/passwd-link'));
    fs.writeFileSync(path.join(root, 'big'), Buffer.alloc(2 * 1024 * 1024));
    await client.createContainer({ id: 'files', rootfs: rel });

    await client.writeFile('files', '/etc/hosts', Buffer.from('127.0.0.1 localhost\n'), 0o644);
    expect((await client.readFile('files', '/etc/hosts', 4096)).toString()).toBe('127.0.0.1 localhost\n');
    expect((await run(client, 'files', ['cat', '/etc/hosts'])).stdout).toBe('127.0.0.1 localhost\n');
    expect(fs.statSync(path.join(root, 'etc/hosts')).mode & 0o7777).toBe(0o644);

    // ".." is refused outright; symlinks resolve inside the container's root.
    await expect(client.readFile('files', '/../../etc/passwd', 4096)).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(client.readFile('files', '/etc/../../etc/passwd', 4096)).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(client.readFile('files', '../../etc/passwd', 4096)).rejects.toBeInstanceOf(InvalidArgumentError);
    for (const p of ['/escape/etc/passwd', '/up/etc/passwd', '/etc/passwd-link']) {
      expect((await client.readFile('files', p, 4096)).toString()).toMatch(/container-root/);
    }
    const marker = `pv-escape-${process.pid}-${Date.now()}`;
    await client.writeFile('files', `/escape/tmp/${marker}`, Buffer.from('inside'), 0o600);
    await client.writeFile('files', `/up/tmp/${marker}-2`, Buffer.from('inside'), 0o600);
    expect(fs.existsSync(`/tmp/${marker}`)).toBe(false);
    expect(fs.existsSync(`/tmp/${marker}-2`)).toBe(false);
    expect(fs.readFileSync(path.join(root, 'tmp', marker), 'utf8')).toBe('inside');

    // /proc magic links, non-regular files and oversize files are refused.
    const init = await client.startProcess(spec('files', ['sh', '-c', 'read x'], { stdin: true }));
    guestPids.push(init.pid);
    await expect(client.readFile('files', '/proc/1/root/etc/passwd', 4096)).rejects.toBeInstanceOf(
      InvalidArgumentError,
    );
    // Plain /proc files are readable (the pod layer samples stats this way).
    expect((await client.readFile('files', '/proc/loadavg', 4096)).toString()).toMatch(/^\d+\.\d+ .* \d+\/\d+ \d+\n$/);
    await expect(client.readFile('files', '/dev/zero', 4096)).rejects.toThrow(/not a regular file/);
    await expect(client.readFile('files', '/big', 1024 * 1024)).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(client.readFile('files', '/etc/hosts', 5)).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(client.readFile('files', '/missing', 10)).rejects.toBeInstanceOf(NotFoundError);
    init.stdin!.end('\n');
    await finish(init);
    await client.destroyContainer('files');
  });

  it('holds a fast writer back while nobody reads its output (bounded host memory)', async () => {
    await client.createContainer({ id: 'flow', rootfs: newRootfs('flow') });
    const p = await client.startProcess(spec('flow', ['sh', '-c', 'head -c 20000000 /dev/zero; echo finished >&2']));
    guestPids.push(p.pid);
    let exited = false;
    void p.exited.then(() => (exited = true));
    // Nobody reads stdout: wait until the bytes buffered on the host stop growing.
    let last = -1;
    while (p.stdout.readableLength !== last) {
      last = p.stdout.readableLength;
      await new Promise((r) => setTimeout(r, 300));
    }
    expect(p.stdout.readableLength).toBeLessThanOrEqual(256 * 1024 + 64 * 1024);
    expect(exited).toBe(false);
    const [out, err, status] = await Promise.all([collect(p.stdout), collect(p.stderr), p.exited]);
    expect(out.length).toBe(20000000);
    expect(err.toString()).toBe('finished\n');
    expect(status).toEqual({ exitCode: 0 });
    await client.destroyContainer('flow');
  });

  it('creates containers back to back on their own roots with /dev, /proc and a read-only /sys, and keeps one helper once they are gone', async () => {
    // The first takes the namespace the agent prepared while idle; the others find none
    // ready and make theirs on the spot: all must look the same from inside.
    const ids = ['b1', 'b2', 'b3'];
    await Promise.all(
      ids.map((id) => {
        const rel = newRootfs(id);
        fs.writeFileSync(path.join(share, rel, 'marker'), `${id}\n`);
        return client.createContainer({ id, rootfs: rel, hostname: `${id}-host` });
      }),
    );
    const script = [
      'cat /marker',
      'hostname',
      'echo x > /dev/null && echo null-ok',
      'test -c /dev/pts/ptmx && echo pts-ok',
      'test -r /proc/self/status && echo proc-ok',
      'mkdir /sys/nope 2>/dev/null || echo sys-ro',
      'grep -c stage /proc/self/mountinfo',
    ].join('; ');
    for (const id of ids) {
      const r = await run(client, id, ['sh', '-c', script]);
      expect(r.stdout).toBe(`${id}\n${id}-host\nnull-ok\npts-ok\nproc-ok\nsys-ro\n0\n`);
    }
    await Promise.all(ids.map((id) => client.destroyContainer(id)));
    // Each container's helper went with it; what is left is the one spare for the next.
    const children = async () =>
      fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p) && readPpid(p) === agent.proc.pid).length;
    const end = Date.now() + 3000;
    while ((await children()) !== 1 && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
    expect(await children()).toBe(1);
    await client.createContainer({ id: 'b4', rootfs: newRootfs('b4') });
    expect((await run(client, 'b4', ['hostname'])).status).toEqual({ exitCode: 0 });
    await client.destroyContainer('b4');
  });

  it('destroyContainer kills everything in it and answers once they are reaped', async () => {
    await client.createContainer({ id: 'destroy', rootfs: newRootfs('destroy') });
    const init = await client.startProcess(spec('destroy', ['sh', '-c', 'sleep 1000 & sleep 1000']));
    const exec = await client.startProcess(spec('destroy', ['sleep', '1000']));
    guestPids.push(init.pid, exec.pid);
    const done = Promise.all([finish(init), finish(exec)]);
    await client.destroyContainer('destroy');
    expect(alive(init.pid)).toBe(false);
    expect(alive(exec.pid)).toBe(false);
    const [ri, re] = await done;
    expect(ri.status).toEqual({ exitCode: 137, signal: 9 });
    expect(re.status).toEqual({ exitCode: 137, signal: 9 });
  });
});

describe('agent in host test mode: reconnects and failures', () => {
  it('keeps processes running across a host reconnect, and reattach resumes their streams', async () => {
    const agent = startAgent('reattach');
    const c1 = await connect(agent);
    await c1.createContainer({ id: 'ra', rootfs: newRootfs('ra') });
    const init = await c1.startProcess(spec('ra', ['sh', '-c', 'read x; echo got-$x; exit 4'], { stdin: true }));
    // More output than one credit window, written while no host is connected.
    const writer = await c1.startProcess(spec('ra', ['sh', '-c', 'sleep 0.3; seq 1 100000']));
    guestPids.push(init.pid, writer.pid);
    c1.close();
    await expect(init.exited).rejects.toBeInstanceOf(UnavailableError);
    await new Promise((r) => setTimeout(r, 800));

    const c2 = await connect(agent);
    const procs = await c2.reattach();
    expect(procs.map((p) => p.processId).sort()).toEqual([init.processId, writer.processId].sort());
    const init2 = procs.find((p) => p.processId === init.processId)!;
    const writer2 = procs.find((p) => p.processId === writer.processId)!;
    expect(init2.pid).toBe(init.pid);
    const w = await finish(writer2);
    expect(w.status).toEqual({ exitCode: 0 });
    expect(w.stdout).toBe(Array.from({ length: 100000 }, (_, i) => `${i + 1}\n`).join(''));
    const out = collect(init2.stdout);
    init2.stdin!.write('hello\n');
    expect(await init2.exited).toEqual({ exitCode: 4 });
    expect((await out).toString()).toBe('got-hello\n');
    // A process that wrote and exited while no host was connected is reported on reattach.
    const quick = await c2.startProcess(spec('ra', ['sh', '-c', 'sleep 0.2; echo done-while-away; exit 6']));
    guestPids.push(quick.pid);
    c2.close();
    await new Promise((r) => setTimeout(r, 600));
    const c3 = await connect(agent);
    const [late] = await c3.reattach();
    expect(late.processId).toBe(quick.processId);
    expect(await finish(late)).toEqual({ stdout: 'done-while-away\n', stderr: '', status: { exitCode: 6 } });
    expect(await c3.reattach()).toEqual([]);
    await c3.destroyContainer('ra');
    await c3.shutdown();
    c3.close();
  });

  it("re-sends a container init's output from the offset the host stored (RESUME_OUTPUT), reporting what it no longer keeps", async () => {
    const agent = startAgent('resume');
    const c1 = await connect(agent);
    await c1.createContainer({ id: 'rs', rootfs: newRootfs('rs') });
    // The init: 5000 lines and 3 on stderr; 400000 more once /go exists; it exits after /done.
    const script =
      'seq 1 5000; seq 1 3 >&2; while [ ! -e /go ]; do sleep 0.05; done; seq 5001 405000; while [ ! -e /done ]; do sleep 0.05; done; exit 3';
    const init = await c1.startProcess(spec('rs', ['sh', '-c', script]));
    guestPids.push(init.pid);
    const upTo = (a: number, b: number) => Array.from({ length: b - a + 1 }, (_, i) => `${a + i}\n`).join('');
    const first = upTo(1, 5000);
    await waitForOutput(init.stdout, /\n5000\n$/);
    await waitForOutput(init.stderr!, /3\n$/);
    c1.close();
    await expect(init.exited).rejects.toBeInstanceOf(UnavailableError);

    // The host stored only 1000 bytes of stdout and 2 of stderr: the rest comes again, once.
    const c2 = await connect(agent);
    const lost: string[] = [];
    const stored = { stdout: 1000, stderr: 2, lost: (s: string, n: number) => lost.push(`${s}:${n}`) };
    const [again] = await c2.reattach((p) => (p.processId === init.processId ? stored : undefined));
    expect(again.outputStart).toEqual({ stdout: 1000, stderr: 2 });
    const out2 = await waitForOutput(again.stdout, /\n5000\n$/);
    expect(first.slice(0, 1000) + out2).toBe(first);
    expect(await waitForOutput(again.stderr!, /3\n$/)).toBe('2\n3\n');
    expect(lost).toEqual([]);
    c2.close();

    // An offset beyond what the process wrote is refused: the stream continues as listed.
    const c3 = await connect(agent);
    const [third] = await c3.reattach(() => ({ stdout: 10_000_000, stderr: 0, lost: () => undefined }));
    expect(third.outputStart).toEqual({ stdout: first.length, stderr: 6 });
    // 400000 more lines (2.6 MB) reach this host, which goes away without storing any.
    await c3.writeFile('rs', '/go', Buffer.from(''), 0o644);
    await waitForOutput(third.stdout, /\n405000\n$/);
    c3.close();

    // The agent kept only the last PV_OUTPUT_KEEP bytes: those come again, the rest is lost.
    const c4 = await connect(agent);
    const rest = upTo(5001, 405000);
    const [fourth] = await c4.reattach(() => ({
      stdout: first.length,
      stderr: 6,
      lost: (s, n) => lost.push(`${s}:${n}`),
    }));
    expect(lost).toEqual([`stdout:${rest.length - Limits.OUTPUT_KEEP}`]);
    expect(fourth.outputStart).toEqual({ stdout: first.length + rest.length - Limits.OUTPUT_KEEP, stderr: 6 });
    await c4.writeFile('rs', '/done', Buffer.from(''), 0o644);
    expect(await finish(fourth)).toEqual({
      stdout: rest.slice(-Limits.OUTPUT_KEEP),
      stderr: '',
      status: { exitCode: 3 },
    });
    await c4.destroyContainer('rs');
    await c4.shutdown();
    c4.close();
  });

  it('is not confused by a second host connecting while the first one is still there', async () => {
    const agent = startAgent('replace');
    const c1 = await connect(agent);
    const c2 = await connect(agent);
    await c2.ping();
    await expect(c1.ping()).rejects.toBeInstanceOf(UnavailableError);
    await c2.createContainer({ id: 'rep', rootfs: newRootfs('rep') });
    expect((await run(c2, 'rep', ['echo', 'second host'])).stdout).toBe('second host\n');
    await c2.destroyContainer('rep');
    await c2.shutdown();
    c2.close();
  });

  it('rejects exited with UnavailableError, without hanging, when the agent dies mid-stream', async () => {
    const agent = startAgent('killed');
    const c = await connect(agent);
    await c.createContainer({ id: 'k', rootfs: newRootfs('k') });
    const p = await c.startProcess(spec('k', ['sh', '-c', 'while :; do echo xxxxxxxxxxxxxxxxxxxx; done']));
    const exec = await c.startProcess(spec('k', ['sleep', '1000']));
    guestPids.push(p.pid, exec.pid);
    const streamError = new Promise<Error>((resolve) => p.stdout.on('error', resolve));
    await waitForOutput(p.stdout, /x{20}\n[\s\S]*x{20}\n/);
    agent.proc.kill('SIGKILL');
    await expect(p.exited).rejects.toBeInstanceOf(UnavailableError);
    await expect(p.exited).rejects.toThrow(/agent channel closed/);
    await expect(exec.exited).rejects.toBeInstanceOf(UnavailableError);
    expect((await streamError).message).toMatch(/agent channel closed/);
    await expect(c.ping()).rejects.toBeInstanceOf(UnavailableError);
    // The agent's death takes its containers with it.
    expect(await waitGone([p.pid, exec.pid])).toEqual([]);
  });

  it('connect rejects with UnavailableError when nothing answers in time', async () => {
    const started = Date.now();
    await expect(
      AgentClient.connect({
        ctlPath: path.join(tmp, 'nobody.ctl'),
        ioPath: path.join(tmp, 'nobody.io'),
        timeoutMs: 300,
      }),
    ).rejects.toBeInstanceOf(UnavailableError);
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it('leaves no mount behind in the host namespace', () => {
    expect(mountsUnder(tmp)).toEqual([]);
  });
});
