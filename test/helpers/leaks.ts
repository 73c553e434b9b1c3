/**
 * Leak checks shared by tests: QEMU and virtiofsd processes, perl mount helpers, mounts and
 * VM runtime directories left behind; bridges, taps, firewall rules and test network
 * namespaces of daemons that are gone.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { programArgv } from '../../src/vm/qemu/processes/processes';
import { JAIL_NAME } from '../../src/vm/qemu/confinement/jailed-process';
import { cgroupLayout } from '../../src/vm/qemu/confinement/vm-cgroup';

/** A process of interest: pid and command line. */
export interface ProcInfo {
  pid: number;
  cmdline: string;
}

function listProcesses(match: (argv: string[]) => boolean): ProcInfo[] {
  const out: ProcInfo[] = [];
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    let argv: string[];
    try {
      argv = fs.readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0');
      // A zombie has an empty cmdline: it holds nothing.
      if (argv.length < 2) continue;
    } catch {
      continue;
    }
    // QEMU starts as `setpriv ... -- qemu-system-x86_64 ...`: matched as the program it execs.
    if (match(programArgv(argv))) out.push({ pid: Number(name), cmdline: argv.join(' ').trim() });
  }
  return out;
}

/** Every process with `text` in its command line (a daemon's `ip` or `iptables` naming its owner mark). */
export function processesNaming(text: string): ProcInfo[] {
  return listProcesses((argv) => argv.join(' ').includes(text)).filter((p) => p.pid !== process.pid);
}

/**
 * Every qemu-system or virtiofsd process on the machine; with `jails`, also every jail running
 * or about to run one (its supervisor, src/vm/qemu/confinement/jailed-process.ts: see isJailSupervisor), as
 * leak checks want them. Without it, one process per program: what a test picks or counts.
 */
export function listVmProcesses(opts: { jails?: boolean } = {}): ProcInfo[] {
  const all = listProcesses((argv) => /qemu-system|virtiofsd/.test(argv[0]));
  return opts.jails ? all : all.filter((p) => !isJailSupervisor(p));
}

/**
 * True when `p` (of listVmProcesses) is a jail, not the program itself: the supervisor a jailed
 * QEMU or virtiofsd runs under (or, for a few ms, a jail that has not exec'd it yet).
 */
export function isJailSupervisor(p: ProcInfo): boolean {
  return path.basename(p.cmdline.split(' ')[0]) === JAIL_NAME;
}

/** The parent pid of `pid` (0 when gone). */
function parentOf(pid: number): number {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return 0;
  }
}

/**
 * Every mount helper (src/util/mounter.ts: `perl -e <script>` calling mount(2)), except this
 * process's own (in-band tests use the mounter themselves; it ends with its parent).
 */
export function listMountHelpers(): ProcInfo[] {
  return listProcesses(
    (argv) =>
      path.basename(argv[0]) === 'perl' && argv[1] === '-e' && /syscall\(\d+, arg\(\$f\[0\]\)/.test(argv[2] ?? ''),
  ).filter((p) => parentOf(p.pid) !== process.pid);
}

/** Mount points whose path starts with `prefix`. */
export function mountsUnder(prefix: string): string[] {
  return fs
    .readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[4])
    .filter((p): p is string => !!p && p.startsWith(prefix));
}

/** Where tests make their temp roots (daemon data/exec roots, VM exec roots). */
const TEST_ROOT = /^(podvisor-|pv-)/;

/** Mounts under the tests' temp roots in os.tmpdir() (podvisor-*, pv-*). */
export function testRootMounts(): string[] {
  const tmp = os.tmpdir() + path.sep;
  return mountsUnder(tmp).filter((m) => TEST_ROOT.test(m.slice(tmp.length)));
}

/**
 * VM runtime directories (`<exec root>/vms/<id>`) under the tests' temp roots, with their
 * modification times: a test root whose VM directory outlived its daemon and its test.
 */
export function testRootVmDirs(): Array<{ dir: string; mtimeMs: number }> {
  const out: Array<{ dir: string; mtimeMs: number }> = [];
  let roots: string[] = [];
  try {
    roots = fs.readdirSync(os.tmpdir()).filter((n) => TEST_ROOT.test(n));
  } catch {
    return out;
  }
  for (const r of roots) {
    for (const vms of [path.join(os.tmpdir(), r, 'vms'), path.join(os.tmpdir(), r, 'exec', 'vms')]) {
      let ids: string[];
      try {
        ids = fs.readdirSync(vms);
      } catch {
        continue;
      }
      for (const id of ids) {
        try {
          out.push({ dir: path.join(vms, id), mtimeMs: fs.statSync(path.join(vms, id)).mtimeMs });
        } catch {
          // removed meanwhile
        }
      }
    }
  }
  return out;
}

/** `podvisor <data root>`: the owner mark on our links (alias) and firewall jumps (comment). */
const OWNER_MARK = /podvisor (\/[\w./-]+)/;

function commandOut(cmd: string, args: string[]): string {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  } catch {
    return '';
  }
}

/**
 * Host network objects of podvisor daemons that are gone: bridges and taps whose owner's data
 * root no longer exists, firewall jumps marked with such a root, our chains (PV-<id>-...) that
 * no jump leads to, network namespaces the network tests make (pvt-*), and the CNI tests'
 * bridges and plugin rules (pvtcni*, 10.99.0.0/16).
 */
export function orphanNetworkObjects(): string[] {
  const out: string[] = [];
  const links = JSON.parse(commandOut('ip', ['-j', 'link', 'show']) || '[]') as Array<{
    ifname: string;
    ifalias?: string;
  }>;
  for (const l of links) {
    const m = l.ifalias ? OWNER_MARK.exec(l.ifalias) : null;
    if (m && !fs.existsSync(m[1])) out.push(`link ${l.ifname} of ${m[1]}`);
  }
  for (const table of ['filter', 'nat']) {
    const lines = commandOut('iptables-save', ['-t', table]).split('\n');
    const jumped = new Set<string>();
    for (const line of lines) {
      const m = OWNER_MARK.exec(line);
      const target = /-j (PV-[0-9A-F]{8}-\w+)/.exec(line)?.[1];
      if (line.startsWith('-A ') && m && target && !line.startsWith(`-A ${target.slice(0, 11)}`)) {
        jumped.add(target);
        if (!fs.existsSync(m[1])) out.push(`${table} rule ${line}`);
      }
    }
    for (const line of lines) {
      const chain = /^:(PV-[0-9A-F]{8}-\w+)/.exec(line)?.[1];
      if (chain && !jumped.has(chain)) out.push(`${table} chain ${chain} (no jump into it)`);
    }
  }
  for (const ns of commandOut('ip', ['netns', 'list']).split('\n')) {
    if (/^pvt-/.test(ns)) out.push(`network namespace ${ns.split(' ')[0]}`);
  }
  // The CNI tests' networks (test/privileged/net/helpers/cni-net.ts): bridges and taps named
  // pvtcni*, and the plugins' rules for them (named after the network, or on 10.99.0.0/16).
  for (const l of links) if (/^pvtcni/.test(l.ifname)) out.push(`CNI test link ${l.ifname}`);
  for (const table of ['filter', 'nat'])
    for (const line of commandOut('iptables-save', ['-t', table]).split('\n'))
      if (line.startsWith('-A ') && /pvtcni|10\.99\.\d+\.\d+/.test(line))
        out.push(`${table} rule of a CNI test ${line}`);
  return out;
}

/**
 * VM cgroups (src/vm/qemu/confinement/vm-cgroup.ts) made since `sinceMs` that are still there with no
 * process in them: one a VM's removal should have taken with its directory. (One with a
 * process is a VM process left, reported as such.)
 */
export function emptyVmCgroups(sinceMs: number): string[] {
  const layout = cgroupLayout();
  if (!layout) return [];
  const out: string[] = [];
  for (const parent of new Set([layout.parents.memory, layout.parents.pids])) {
    let names: string[];
    try {
      names = fs.readdirSync(parent).filter((n) => /^[0-9a-f]{10}-/.test(n));
    } catch {
      continue;
    }
    for (const name of names) {
      const dir = path.join(parent, name);
      try {
        if (fs.statSync(dir).mtimeMs < sinceMs) continue;
        if (fs.readFileSync(path.join(dir, 'cgroup.procs'), 'utf8').trim() === '') out.push(dir);
      } catch {
        // removed meanwhile
      }
    }
  }
  return out;
}
