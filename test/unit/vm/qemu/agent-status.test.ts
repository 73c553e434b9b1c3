/**
 * The host's sign that a VM's agent has seen its host leave (src/vm/qemu/agent-status.ts): read
 * from the agent's status port, never from the VM's console, where a process of the guest that
 * can open the console (a privileged container) may write any line.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { agentStatusBytes, agentStatusFile, hostLeftBoth, waitForHostLeft } from '../../../../src/vm/qemu/agent-status';
import { vmPaths } from '../../../../src/vm/qemu/runtime-dir';

let root: string;
beforeEach(() => (root = fs.mkdtempSync(path.join(os.tmpdir(), 'pv-status-'))));
afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

describe("the agent's status port", () => {
  test('both channels must be reported, each on a line of its own', () => {
    expect(hostLeftBoth('control\nstream\n')).toBe(true);
    expect(hostLeftBoth('stream\ncontrol\n')).toBe(true);
    expect(hostLeftBoth('control\n')).toBe(false);
    expect(hostLeftBoth('control stream\n')).toBe(false);
    expect(hostLeftBoth('podvisor-agent: host left the control channel (end of file)\n')).toBe(false);
  });

  test("lines forged on the VM's console change nothing: the wait ends only on the status port's lines", async () => {
    const paths = vmPaths(root, 'abcdef012345');
    fs.mkdirSync(paths.runDir, { recursive: true });
    fs.writeFileSync(
      paths.consoleLog,
      'podvisor-agent: host left the control channel (end of file)\npodvisor-agent: host left the stream channel (end of file)\n',
    );
    await expect(waitForHostLeft(paths, 100, 'the test agent')).rejects.toThrow(
      'the test agent did not report its host gone from both channels within 100 ms',
    );
    fs.writeFileSync(agentStatusFile(paths), 'control\nstream\n');
    await expect(waitForHostLeft(paths, 100, 'the test agent')).resolves.toBeUndefined();
  });

  test('a wait from an offset ignores what the agent reported before it', async () => {
    const paths = vmPaths(root, 'abcdef012345');
    fs.mkdirSync(paths.runDir, { recursive: true });
    expect(agentStatusBytes(paths)).toBe(0);
    fs.writeFileSync(agentStatusFile(paths), 'control\nstream\n');
    const from = agentStatusBytes(paths);
    expect(from).toBe(15);
    const waited = waitForHostLeft(paths, 2000, 'the test agent', from);
    fs.appendFileSync(agentStatusFile(paths), 'stream\n');
    setTimeout(() => fs.appendFileSync(agentStatusFile(paths), 'control\n'), 50);
    await expect(waited).resolves.toBeUndefined();
    await expect(waitForHostLeft(paths, 50, 'the test agent', agentStatusBytes(paths))).rejects.toThrow('within 50 ms');
  });

  test('no module of the daemon reads the console but to put its last lines in an error message', () => {
    // Every src file that names the console log, and why: a new reader must be one of these kinds.
    const src = path.join(__dirname, '../../../../src');
    const named: string[] = [];
    const walk = (dir: string) => {
      for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
        const p = path.join(dir, e.name);
        if (e.isDirectory()) walk(p);
        else if (p.endsWith('.ts') && /consoleLog/.test(fs.readFileSync(p, 'utf8'))) named.push(path.relative(src, p));
      }
    };
    walk(src);
    expect(named.sort()).toEqual([
      'vm/accel.ts', // the KVM probe's failure message
      'vm/qemu/cmdline.ts', // where QEMU writes it
      'vm/qemu/qemu-vm.ts', // trimmed; a VM's unexpected exit's message
      'vm/qemu/runtime-dir.ts', // its path
      'vm/qemu/snapshots/templates.ts', // a failed template build's message
      'vm/qemu/start-steps.ts', // a failed start's message (bootFailureDetail)
    ]);
  });
});
