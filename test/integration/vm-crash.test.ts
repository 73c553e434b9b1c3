/**
 * Crash-safe VM bookkeeping (a daemon killed mid-boot must leak no VM): the real compiled daemon, with a warm pool of one VM,
 * SIGKILLs itself at each step of the pool's first boot (PODVISOR_FAULT, src/vm/qemu/fault.ts:
 * the step is chosen by a switch, never by timing). The next daemon on the same roots must
 * leave no process, mount or directory of the half-booted VM, and fill its pool again; a
 * SIGTERM then leaves nothing at all. One partial and one full boot per step: the steps of a
 * boot (with --vm-templates=false), then those of a template's build and of a clone's start.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DAEMON_MAIN } from '../helpers/daemon';
import { isJailSupervisor, listVmProcesses, mountsUnder } from '../helpers/leaks';

jest.setTimeout(300_000);

const STEPS = [
  'after-virtiofsd-spawn',
  'after-virtiofsd-socket',
  'after-qemu-spawn',
  'after-vm-json',
  'after-agent-connect',
];
const CLONE_STEPS = [
  'template-after-qemu-spawn',
  'template-after-agent-connect',
  'clone-after-qemu-spawn',
  'clone-after-vm-json',
  'clone-after-agent-connect',
];

let base: string;
let dataRoot: string;
let execRoot: string;

beforeAll(() => {
  base = fs.mkdtempSync(path.join(os.tmpdir(), 'pv-crash-'));
  dataRoot = path.join(base, 'data');
  execRoot = path.join(base, 'exec');
});

afterAll(() => {
  for (const p of vmProcessesOf()) process.kill(p.pid, 'SIGKILL');
  fs.rmSync(base, { recursive: true, force: true });
});

/** A daemon on the shared roots, pool size 1; `fault` arms PODVISOR_FAULT. */
function launch(
  fault: string | undefined,
  templates: boolean,
): { child: ChildProcess; logs: () => string; exited: Promise<NodeJS.Signals | number | null> } {
  const env = { ...process.env };
  delete env.PODVISOR_FAULT;
  if (fault) env.PODVISOR_FAULT = fault;
  const child = spawn(
    process.execPath,
    [
      DAEMON_MAIN,
      '--data-root',
      dataRoot,
      '--exec-root',
      execRoot,
      '-H',
      `unix://${path.join(base, 'docker.sock')}`,
      '--vm-pool-size',
      '1',
      `--vm-templates=${templates}`,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'], env },
  );
  let out = '';
  child.stdout?.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr?.on('data', (b: Buffer) => (out += b.toString()));
  const exited = new Promise<NodeJS.Signals | number | null>((r) => child.once('exit', (code, sig) => r(sig ?? code)));
  return { child, logs: () => out, exited };
}

function vmProcessesOf(): Array<{ pid: number; cmdline: string }> {
  return listVmProcesses({ jails: true }).filter((p) => p.cmdline.includes(`${execRoot}/`));
}

function runtimeDirs(): string[] {
  const dir = path.join(execRoot, 'vms');
  return fs.existsSync(dir) ? fs.readdirSync(dir) : [];
}

function templateDirs(): string[] {
  const dir = path.join(execRoot, 'templates');
  return fs.existsSync(dir) ? fs.readdirSync(dir) : [];
}

async function waitFor(what: string, cond: () => boolean, logs: () => string, timeoutMs = 90_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; daemon output:\n${logs()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

test.each(STEPS)(
  'killed %s: the next daemon leaves nothing of the half-booted VM and refills its pool',
  async (step) => {
    await expectNothingLeftKilledAt(step, false);
  },
);

test.each(CLONE_STEPS)(
  'templates, killed %s: the next daemon leaves nothing of the half-made template or clone and refills its pool',
  async (step) => {
    await expectNothingLeftKilledAt(step, true);
  },
);

async function expectNothingLeftKilledAt(step: string, templates: boolean): Promise<void> {
  // 1. The daemon dies at `step` of its pool's first VM.
  const dying = launch(step, templates);
  let timer: NodeJS.Timeout | undefined;
  const died = await Promise.race([
    dying.exited,
    new Promise((r) => (timer = setTimeout(() => r('still running'), 90_000))),
  ]);
  clearTimeout(timer);
  if (died !== 'SIGKILL') dying.child.kill('SIGKILL');
  // A daemon that never reached the step: its output says where it was instead.
  expect({ died, ...(died === 'SIGKILL' ? {} : { output: dying.logs().slice(-4000) }) }).toEqual({ died: 'SIGKILL' });
  const halfBooted = runtimeDirs();
  // A template's build is not a VM of vms/: what it left is under templates/.
  const inTemplate = step.startsWith('template-');
  expect(halfBooted).toHaveLength(inTemplate ? 0 : 1);
  const deadDir = inTemplate ? path.join('templates', templateDirs()[0]) : path.join('vms', halfBooted[0]);
  const leftRunning = vmProcessesOf();
  // What the kill left running, per step: the bug this test guards against was that nothing
  // could find these again.
  expect(leftRunning.length).toBeGreaterThanOrEqual(1);
  expect(leftRunning.every((p) => p.cmdline.includes(deadDir))).toBe(true);

  // 2. The next daemon finds them, kills them, removes the directory, and makes its own VM.
  const next = launch(undefined, templates);
  try {
    await waitFor('the pool to be full', () => /VM pool: 1 idle VM\(s\) ready/.test(next.logs()), next.logs);
    if (inTemplate) expect(next.logs()).toMatch(/killing template QEMU \d+ left by an earlier daemon/);
    else expect(next.logs()).toMatch(new RegExp(`VM ${path.basename(deadDir)} is not adoptable|reclaimed 1 VM`));
    // A clone killed before its state was loaded is dropped at once, not after the handshake's budget.
    if (step === 'clone-after-vm-json')
      expect(next.logs()).toMatch(/not adoptable \(its saved state was never loaded\)/);
    const dirs = runtimeDirs();
    expect(dirs).toHaveLength(1);
    expect(dirs).not.toContain(path.basename(deadDir));
    const procs = vmProcessesOf();
    // The new pool VM's QEMU and virtiofsd (each under its jail's supervisor); a clone has no
    // virtiofsd (QEMU serves its 9p shares).
    expect(procs.filter((p) => !isJailSupervisor(p))).toHaveLength(templates ? 1 : 2);
    expect(procs.every((p) => p.cmdline.includes(dirs[0]))).toBe(true);
    expect(mountsUnder(path.join(execRoot, deadDir))).toEqual([]);
  } finally {
    // 3. SIGTERM: the idle VM and the templates go; nothing of ours is left.
    next.child.kill('SIGTERM');
    await next.exited;
  }
  expect(vmProcessesOf()).toEqual([]);
  expect(runtimeDirs()).toEqual([]);
  expect(templateDirs()).toEqual([]);
  expect(mountsUnder(execRoot)).toEqual([]);
}
