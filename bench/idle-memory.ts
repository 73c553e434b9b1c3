/**
 * The memory idle containers hold, as the host pays it (PSS from /proc/<pid>/smaps_rollup, so
 * pages shared between processes are split between them), for bench:run:
 *  - podvisor: each QEMU of the daemon's process tree (a container's VM, or an idle pool VM:
 *    the same machine);
 *  - dockerd + runc: each container's shim with everything under it (the container's
 *    processes), found by the shim's `-address` under the baseline's directory (shims leave
 *    the daemon's tree: they are their own session, under init).
 */
import * as fs from 'node:fs';

interface Proc {
  pid: number;
  ppid: number;
  comm: string;
  cmdline: string;
}

function processes(): Proc[] {
  const out: Proc[] = [];
  for (const e of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${e}/stat`, 'utf8');
      const close = stat.lastIndexOf(')');
      const ppid = Number(stat.slice(close + 2).split(' ')[1]);
      const cmdline = fs.readFileSync(`/proc/${e}/cmdline`, 'utf8').replace(/\0/g, ' ');
      out.push({ pid: Number(e), ppid, comm: stat.slice(stat.indexOf('(') + 1, close), cmdline });
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/** PSS of `pid` in MiB (0 when it is gone). */
function pssMiB(pid: number): number {
  try {
    const m = /^Pss:\s+(\d+) kB$/m.exec(fs.readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'));
    return m ? Number(m[1]) / 1024 : 0;
  } catch {
    return 0;
  }
}

/** `root` and every process under it. */
function tree(all: Proc[], root: number): Proc[] {
  const children = new Map<number, Proc[]>();
  for (const p of all) children.set(p.ppid, [...(children.get(p.ppid) ?? []), p]);
  const out: Proc[] = [];
  const walk = (pid: number) => {
    for (const c of children.get(pid) ?? []) {
      out.push(c);
      walk(c.pid);
    }
  };
  const self = all.find((p) => p.pid === root);
  if (self) out.push(self);
  walk(root);
  return out;
}

/** PSS (MiB) of each QEMU under podvisord `daemonPid`. */
export function podvisorVmPss(daemonPid: number): number[] {
  return tree(processes(), daemonPid)
    .filter((p) => p.comm.startsWith('qemu-system'))
    .map((p) => pssMiB(p.pid));
}

/** PSS (MiB) of each container of the dockerd under `baseDir`: its shim and what runs under it. */
export function dockerdContainerPss(baseDir: string): number[] {
  const all = processes();
  return all
    .filter((p) => p.comm.startsWith('containerd-shim') && p.cmdline.includes(baseDir))
    .map((shim) => tree(all, shim.pid).reduce((sum, p) => sum + pssMiB(p.pid), 0));
}

/** Where one QEMU's PSS goes (MiB): what TCG adds, what the guest holds, what QEMU itself holds. */
export interface QemuPssParts {
  /** TCG's translated-code buffer (the `tcg-jit` memfd; a KVM VM has none). */
  jit: number;
  /** Guest RAM: a clone's private pages of its template's RAM file, or a booted VM's memfd. */
  guestRam: number;
  /** Everything else: QEMU's binary and libraries, heap, device and block-layer buffers. */
  qemu: number;
}

/** The parts of `pid`'s PSS by mapping (/proc/<pid>/smaps); zeros when it is gone. */
export function qemuPssParts(pid: number): QemuPssParts {
  try {
    return pssPartsOf(fs.readFileSync(`/proc/${pid}/smaps`, 'utf8'));
  } catch {
    return { jit: 0, guestRam: 0, qemu: 0 };
  }
}

/** The parts of a QEMU's PSS, from the text of its /proc/<pid>/smaps. */
export function pssPartsOf(text: string): QemuPssParts {
  const parts: QemuPssParts = { jit: 0, guestRam: 0, qemu: 0 };
  let part: keyof QemuPssParts = 'qemu';
  for (const line of text.split('\n')) {
    const head = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \d+\s*(.*)$/.exec(line);
    if (head) {
      const name = head[1];
      if (name.startsWith('/memfd:tcg-jit')) part = 'jit';
      else if (name.startsWith('/memfd:') || /\/templates\/[^/]+\/ram$/.test(name)) part = 'guestRam';
      else part = 'qemu';
      continue;
    }
    const pss = /^Pss:\s+(\d+) kB$/.exec(line);
    if (pss) parts[part] += Number(pss[1]) / 1024;
  }
  return parts;
}

/** qemuPssParts of each QEMU under podvisord `daemonPid`. */
export function podvisorVmPssParts(daemonPid: number): QemuPssParts[] {
  return tree(processes(), daemonPid)
    .filter((p) => p.comm.startsWith('qemu-system'))
    .map((p) => qemuPssParts(p.pid));
}
