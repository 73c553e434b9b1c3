/**
 * Choosing the acceleration: `--accel kvm` and `--accel tcg` are taken as given; `--accel auto`
 * boots one bounded test VM with KVM and falls back to TCG when that fails.
 *
 * /dev/kvm existing is not enough: on hosts without nested virtualisation it can answer the API
 * version and then hang the guest forever, or abort QEMU with "-cpu host" (see
 * ../shared/docs/machine-facts.md). So the probe is a real boot: our kernel and initramfs with
 * `rdinit=/init -- --poweroff`, which must power off (QEMU exits 0) within a few seconds. It is
 * killed otherwise. The answer is kept in `<execRoot>/accel.json`, keyed by the QEMU binary,
 * the guest kernel file and the host kernel, so the probe runs once per combination.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawn } from 'node:child_process';
import { locateQemuTools } from './qemu/binaries';
import { tailLines } from './qemu/host-files';

/** What resolveAccel decided and why. */
export interface AccelDecision {
  accel: 'kvm' | 'tcg';
  /** One sentence for the log, e.g. "KVM probe boot did not finish within 4000 ms". */
  reason: string;
  /** True when the answer came from accel.json rather than a probe just now. */
  cached: boolean;
}

/** Inputs of resolveAccel. */
export interface ResolveAccelOptions {
  mode: 'auto' | 'kvm' | 'tcg';
  execRoot: string;
  kernel: string;
  initrd: string;
  /** Extra `-M microvm,...` properties the kernel needs (GuestImages.machineOpts). */
  machineOpts?: string[];
  /** qemu-system-x86_64 (default: found on PATH). */
  qemu?: string;
  /** Probe deadline (default 4 s; a KVM boot to poweroff takes well under a second). */
  probeTimeoutMs?: number;
  /** The KVM device (default /dev/kvm). */
  kvmDevice?: string;
}

interface AccelRecord {
  key: string;
  accel: 'kvm' | 'tcg';
  reason: string;
  probedAt: string;
}

/** Decide between KVM and TCG (see the module comment). Never throws. */
export async function resolveAccel(o: ResolveAccelOptions): Promise<AccelDecision> {
  if (o.mode === 'tcg') return { accel: 'tcg', reason: '--accel tcg was given', cached: false };
  if (o.mode === 'kvm') return { accel: 'kvm', reason: '--accel kvm was given (not probed)', cached: false };
  const kvm = o.kvmDevice ?? '/dev/kvm';
  try {
    fs.accessSync(kvm, fs.constants.R_OK | fs.constants.W_OK);
  } catch {
    return { accel: 'tcg', reason: `${kvm} is missing or not accessible`, cached: false };
  }
  let qemu: string;
  let key: string;
  try {
    qemu = locateQemuTools({ qemu: o.qemu }).qemu;
    key = [fileIdentity(qemu), fileIdentity(o.kernel), `host ${os.release()}`].join(' | ');
  } catch (err) {
    return { accel: 'tcg', reason: `cannot probe KVM: ${(err as Error).message}`, cached: false };
  }
  const recordFile = path.join(o.execRoot, 'accel.json');
  const cached = readRecord(recordFile);
  if (cached && cached.key === key) return { accel: cached.accel, reason: cached.reason, cached: true };
  const probe = await probeKvm(qemu, o, o.probeTimeoutMs ?? 4000);
  const decision: AccelRecord = {
    key,
    accel: probe.ok ? 'kvm' : 'tcg',
    reason: probe.ok ? `KVM probe boot powered off in ${probe.ms} ms` : `KVM probe failed: ${probe.why}`,
    probedAt: new Date().toISOString(),
  };
  try {
    fs.mkdirSync(o.execRoot, { recursive: true });
    fs.writeFileSync(`${recordFile}.tmp`, JSON.stringify(decision, null, 2) + '\n');
    fs.renameSync(`${recordFile}.tmp`, recordFile);
  } catch {
    // not remembering only costs another probe next time
  }
  return { accel: decision.accel, reason: decision.reason, cached: false };
}

/**
 * What tells one build of a file from another without running it: its real path, size, mtime
 * and inode (an upgrade of QEMU or a new guest kernel replaces the file). A stat, where asking
 * QEMU for its version cost a process start (~40 ms) on every daemon start.
 */
function fileIdentity(file: string): string {
  const real = fs.realpathSync(file);
  const st = fs.statSync(real);
  return `${real}:${st.size}:${st.mtimeMs}:${st.ino}`;
}

function readRecord(file: string): AccelRecord | undefined {
  try {
    const r = JSON.parse(fs.readFileSync(file, 'utf8')) as Partial<AccelRecord>;
    if (typeof r.key === 'string' && (r.accel === 'kvm' || r.accel === 'tcg') && typeof r.reason === 'string') {
      return r as AccelRecord;
    }
  } catch {
    // missing or corrupt: probe again
  }
  return undefined;
}

/** The QEMU arguments of the KVM probe boot (exported for the unit test). */
export function probeArgs(kernel: string, initrd: string, consoleLog: string, machineOpts: string[] = []): string[] {
  return [
    '-M',
    ['microvm', ...machineOpts].join(','),
    '-accel',
    'kvm',
    '-cpu',
    'host',
    '-m',
    '128',
    '-nodefaults',
    '-no-user-config',
    '-nographic',
    '-no-reboot',
    '-kernel',
    kernel,
    '-initrd',
    initrd,
    '-append',
    'console=ttyS0 quiet panic=-1 rdinit=/init -- --poweroff',
    '-chardev',
    `file,id=console,path=${consoleLog}`,
    '-serial',
    'chardev:console',
  ];
}

/** One bounded KVM boot to poweroff. */
async function probeKvm(
  qemu: string,
  o: ResolveAccelOptions,
  timeoutMs: number,
): Promise<{ ok: boolean; ms: number; why: string }> {
  const { kernel, initrd, execRoot } = o;
  fs.mkdirSync(execRoot, { recursive: true });
  const dir = fs.mkdtempSync(path.join(execRoot, 'kvm-probe-'));
  const consoleLog = path.join(dir, 'console.log');
  const started = Date.now();
  try {
    const child = spawn(qemu, probeArgs(kernel, initrd, consoleLog, o.machineOpts), {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr = (stderr + d).slice(-2000)));
    const result = await new Promise<{ code: number | null; signal?: string | null; timedOut: boolean }>((resolve) => {
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        resolve({ code: null, timedOut: true });
      }, timeoutMs);
      child.once('error', () => {
        clearTimeout(timer);
        resolve({ code: -1, timedOut: false });
      });
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        resolve({ code, signal, timedOut: false });
      });
    });
    const ms = Date.now() - started;
    if (result.code === 0) return { ok: true, ms, why: '' };
    if (result.timedOut) {
      // Make sure the killed process is gone before its directory is.
      await new Promise((r) =>
        child.exitCode !== null || child.signalCode !== null ? r(null) : child.once('exit', r),
      );
      const con = tailLines(consoleLog, 3);
      return {
        ok: false,
        ms,
        why: `the test boot did not power off within ${timeoutMs} ms${con.length ? ` (console: ${con.join(' / ')})` : ' (no console output)'}`,
      };
    }
    const err = stderr.trim().split('\n').filter(Boolean).slice(-2).join(' / ');
    const how = result.signal ? `was killed by ${result.signal}` : `exited with code ${result.code}`;
    return { ok: false, ms, why: `QEMU ${how}${err ? `: ${err}` : ''}` };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
