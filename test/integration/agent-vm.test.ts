/**
 * The guest agent's scenarios inside ONE real VM (QemuHypervisor, TCG here): exit codes and
 * signals, a 20 MB binary round trip through stdin and stdout, `stty size` after a resize,
 * two processes at once, small files that cannot escape the container, a host reconnect with
 * reattach over the virtio-serial ports, and a guest killed mid-stream. Nothing may be left
 * behind: no qemu or virtiofsd process, no mount, no directory.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { InvalidArgumentError, NotFoundError, UnavailableError } from '../../src/errors';
import { AgentClient } from '../../src/vm/agent/client';
import { vmPaths } from '../../src/vm/qemu/runtime-dir';
import type { Agent, Vm } from '../../src/vm/types';
import { listVmProcesses, mountsUnder } from '../helpers/leaks';
import { collect, finish, makeBusyboxRootfs, run, spec, waitForOutput } from '../helpers/agent-fixtures';
import { tcgHypervisor } from '../helpers/tcg-hypervisor';

jest.setTimeout(120_000);

let execRoot: string;
let vm: Vm;
/** The agent in use: the VM's own client, then the one that reconnected. */
let agent: Agent;

/** A busybox rootfs written straight into the VM's share directory. */
function rootfs(id: string): string {
  const rel = `containers/${id}/rootfs`;
  makeBusyboxRootfs(path.join(vm.shareDir, rel));
  return rel;
}

beforeAll(async () => {
  execRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'pv-agent-vm-'));
  const hv = tcgHypervisor(execRoot);
  vm = await hv.createVm({ size: { memoryMiB: 256, cpus: 1 } });
  agent = vm.agent;
});

afterAll(async () => {
  if (vm) {
    // Diagnostics only: the agent notes virtio-serial readiness it got without a wakeup.
    const console = fs.readFileSync(vmPaths(execRoot, vm.id).consoleLog, 'utf8');
    for (const l of console.split('\n').filter((x) => /without a wakeup/.test(x)))
      process.stderr.write(`agent-vm: ${l}\n`);
    await vm.destroy();
  }
  const ours = listVmProcesses({ jails: true }).filter((p) => p.cmdline.includes(execRoot));
  const mounts = mountsUnder(execRoot);
  const vmsLeft = fs.existsSync(path.join(execRoot, 'vms')) ? fs.readdirSync(path.join(execRoot, 'vms')) : [];
  fs.rmSync(execRoot, { recursive: true, force: true });
  expect(ours).toEqual([]);
  expect(mounts).toEqual([]);
  expect(vmsLeft).toEqual([]);
});

describe('guest agent in a real VM', () => {
  it('runs processes with exit codes, KILL and a trapped TERM', async () => {
    await agent.createContainer({ id: 'sig', rootfs: rootfs('sig'), hostname: 'sig-host' });
    expect(await run(agent, 'sig', ['sh', '-c', 'echo out; echo err >&2; hostname'])).toEqual({
      stdout: 'out\nsig-host\n',
      stderr: 'err\n',
      status: { exitCode: 0 },
    });
    expect((await run(agent, 'sig', ['sh', '-c', 'exit 7'])).status).toEqual({ exitCode: 7 });

    const trap = await agent.startProcess(
      spec('sig', ['sh', '-c', 'trap "echo got; exit 3" TERM; echo ready; while :; do sleep 0.1; done']),
    );
    const trapOut = collect(trap.stdout);
    await waitForOutput(trap.stdout, /ready/);
    await agent.signalProcess(trap.processId, 15);
    expect(await trap.exited).toEqual({ exitCode: 3 });
    expect((await trapOut).toString()).toBe('ready\ngot\n');

    const sleeper = await agent.startProcess(spec('sig', ['sh', '-c', 'echo up; exec sleep 1000']));
    const done = finish(sleeper);
    await waitForOutput(sleeper.stdout, /up/);
    await agent.signalProcess(sleeper.processId, 9);
    expect((await done).status).toEqual({ exitCode: 137, signal: 9 });
    await expect(agent.startProcess(spec('sig', ['no-such-command']))).rejects.toBeInstanceOf(NotFoundError);
    await agent.destroyContainer('sig');
  });

  it('round-trips 20 MB of random bytes through stdin -> cat -> stdout', async () => {
    await agent.createContainer({ id: 'cat', rootfs: rootfs('cat') });
    const data = crypto.randomBytes(20 * 1024 * 1024);
    const started = Date.now();
    const p = await agent.startProcess(spec('cat', ['cat'], { stdin: true }));
    const out = collect(p.stdout);
    p.stdin!.end(data);
    const got = await out;
    expect(await p.exited).toEqual({ exitCode: 0 });
    const secs = (Date.now() - started) / 1000;
    process.stderr.write(
      `agent-vm: 20 MiB stdin->cat->stdout in ${secs.toFixed(2)} s (${(20 / secs).toFixed(1)} MiB/s each way)\n`,
    );
    expect(got.length).toBe(data.length);
    expect(crypto.createHash('sha256').update(got).digest('hex')).toBe(
      crypto.createHash('sha256').update(data).digest('hex'),
    );
    await agent.destroyContainer('cat');
  });

  it('shows the new size in a TTY after resizeTerminal', async () => {
    await agent.createContainer({ id: 'tty', rootfs: rootfs('tty') });
    const p = await agent.startProcess(
      spec('tty', ['sh', '-c', 'stty size; echo ready; read x; stty size'], {
        terminal: true,
        rows: 24,
        cols: 80,
        stdin: true,
      }),
    );
    const out = collect(p.stdout);
    await waitForOutput(p.stdout, /ready/);
    await agent.resizeTerminal(p.processId, 40, 100);
    p.stdin!.write('go\n');
    expect(await p.exited).toEqual({ exitCode: 0 });
    expect((await out).toString()).toMatch(/^24 80\r\n[\s\S]*\r\n40 100\r\n$/);
    await agent.destroyContainer('tty');
  });

  it('runs two processes at once, each with its own streams', async () => {
    await agent.createContainer({ id: 'two', rootfs: rootfs('two') });
    const init = await agent.startProcess(spec('two', ['sh', '-c', 'echo up; read x'], { stdin: true }));
    const initDone = finish(init);
    const [a, b] = await Promise.all([
      run(agent, 'two', ['sh', '-c', 'for i in $(seq 1 2000); do echo a$i; done']),
      run(agent, 'two', ['sh', '-c', 'for i in $(seq 1 2000); do echo b$i >&2; done']),
    ]);
    const lines = (prefix: string) => Array.from({ length: 2000 }, (_, i) => `${prefix}${i + 1}\n`).join('');
    expect(a).toEqual({ stdout: lines('a'), stderr: '', status: { exitCode: 0 } });
    expect(b).toEqual({ stdout: '', stderr: lines('b'), status: { exitCode: 0 } });
    init.stdin!.end('\n');
    expect((await initDone).status).toEqual({ exitCode: 0 });
    await agent.destroyContainer('two');
  });

  it('reads and writes small files inside the container only', async () => {
    const rel = rootfs('files');
    const root = path.join(vm.shareDir, rel);
    fs.symlinkSync('/', path.join(root, 'escape'));
    fs.symlinkSync('../../../../../../../..', path.join(root, 'up'));
    await agent.createContainer({ id: 'files', rootfs: rel });
    await agent.writeFile('files', '/etc/hosts', Buffer.from('10.0.0.1 files\n'), 0o644);
    expect((await run(agent, 'files', ['cat', '/etc/hosts'])).stdout).toBe('10.0.0.1 files\n');
    expect(fs.readFileSync(path.join(root, 'etc/hosts'), 'utf8')).toBe('10.0.0.1 files\n');
    await expect(agent.readFile('files', '/../../etc/passwd', 4096)).rejects.toBeInstanceOf(InvalidArgumentError);
    for (const p of ['/escape/etc/passwd', '/up/etc/passwd']) {
      expect((await agent.readFile('files', p, 4096)).toString()).toMatch(/container-root/);
    }
    await agent.writeFile('files', '/escape/run-marker', Buffer.from('inside'), 0o600);
    expect(fs.readFileSync(path.join(root, 'run-marker'), 'utf8')).toBe('inside');
    await agent.destroyContainer('files');
  });

  it('keeps a process running across a host reconnect; reattach resumes its streams', async () => {
    await agent.createContainer({ id: 'ra', rootfs: rootfs('ra') });
    const p = await agent.startProcess(
      spec('ra', ['sh', '-c', 'read x; seq 1 50000; echo got-$x; exit 5'], { stdin: true }),
    );
    agent.close();
    await expect(p.exited).rejects.toBeInstanceOf(UnavailableError);
    const paths = vmPaths(execRoot, vm.id);
    agent = await AgentClient.connect({ ctlPath: paths.ctlSock, ioPath: paths.ioSock, timeoutMs: 20_000 });
    const [again] = await agent.reattach();
    expect(again.processId).toBe(p.processId);
    expect(again.pid).toBe(p.pid);
    const done = finish(again);
    again.stdin!.write('hi\n');
    const r = await done;
    expect(r.status).toEqual({ exitCode: 5 });
    expect(r.stdout).toBe(Array.from({ length: 50000 }, (_, i) => `${i + 1}\n`).join('') + 'got-hi\n');
    await agent.destroyContainer('ra');
  });

  it('rejects exited with UnavailableError, without hanging, when the guest is killed mid-stream', async () => {
    await agent.createContainer({ id: 'dies', rootfs: rootfs('dies') });
    const p = await agent.startProcess(spec('dies', ['sh', '-c', 'while :; do echo xxxxxxxxxxxxxxxxxxxxxxxx; done']));
    const streamError = new Promise<Error>((resolve) => p.stdout.on('error', resolve));
    await waitForOutput(p.stdout, /(x{24}\n){10}/);
    process.kill(vm.pid, 'SIGKILL');
    await expect(p.exited).rejects.toThrow(/agent channel closed/);
    expect(await streamError).toBeInstanceOf(UnavailableError);
    await expect(agent.ping()).rejects.toBeInstanceOf(UnavailableError);
    expect((await vm.exited).expected).toBe(false);
  });
});
