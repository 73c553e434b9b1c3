/**
 * bench/start-cpu.ts's analysis of a `perf script --show-task-events` text: CPU samples and
 * the fork/exec/exit events of the whole host, attributed to a daemon's process tree, the
 * docker CLI, kernel threads and the rest, per back-to-back run; and a QEMU clone's samples
 * split by the phases of its life that the daemon's debug log marks.
 */

/** A phase boundary of one VM, from the daemon's debug log, on the monotonic clock (ms). */
export interface Marker {
  t: number;
  vm: string;
  what: 'ready' | 'warmed' | 'handed out' | 'destroying';
  /** The VM's QEMU (on 'ready'). */
  pid?: number;
}

/** What analyse() needs. */
export interface ProfileInput {
  name: string;
  daemonPid: number;
  /** The bench itself: the docker CLIs are its children. */
  benchPid: number;
  script: string;
  /** The window of the runs, monotonic ms. */
  t0: number;
  t1: number;
  /** CPU time one sample stands for, ms. */
  periodMs: number;
  runs: number;
  markers: Marker[];
  /** Top symbols to list per row (0: none). */
  top: number;
}

/** One daemon's figures and their table. */
export interface Profile {
  name: string;
  /** Host CPU per run, ms (every sample but idle). */
  busyPerRunMs: number;
  text: string;
}

interface Row {
  samples: number;
  kernel: number;
  syms: Map<string, number>;
}

const PHASES: Record<Marker['what'] | 'start', string> = {
  start: 'spawn to ready (state load, handshake, ACTIVATE, MAC)',
  ready: 'ready to warmed (rehearsal, idle trim)',
  warmed: 'idle in the pool',
  'handed out': "the user's container (hand-out to destroy)",
  destroying: 'teardown (destroy to exit)',
};

const SAMPLE = /^\s*(.*?)\s+(-?\d+)\/(-?\d+)\s+(\d+\.\d+):\s+([0-9a-f]+)\s+(.*)\s+\(([^()]*)\)\s*$/;
const TASK =
  /^\s*(.*?)\s+(-?\d+)\/(-?\d+)\s+(?:\[\d+\]\s+)?(\d+\.\d+):\s+PERF_RECORD_(FORK|EXIT)\((\d+):(\d+)\):\((\d+):(\d+)\)/;
const COMM = /PERF_RECORD_COMM(?: exec)?: (.*):(\d+)\/(\d+)\s*$/;

/** Attribute the samples of `input.script` (see the module comment). */
export function analyse(input: ProfileInput): Profile {
  const parent = new Map<number, number>();
  const commOf = new Map<number, string>();
  const forkedAt = new Map<number, number>();
  const exitedAt = new Map<number, number>();
  const rows = new Map<string, Row>();
  const qemuPhases = new Map<string, number>();
  const spawned = new Map<string, number>();
  /** Samples per phase of each QEMU clone. */
  const perVm = new Map<number, Map<string, number>>();
  let busy = 0;
  const inWindow = (ms: number) => ms >= input.t0 && ms <= input.t1;

  const group = (pid: number): 'daemon' | 'bench' | 'kernel' | 'other' => {
    for (let cur = pid, i = 0; i < 64; i++) {
      if (cur === input.daemonPid) return 'daemon';
      if (cur === input.benchPid) return 'bench';
      if (cur === 2) return 'kernel';
      const p = parent.get(cur);
      if (p === undefined || p === cur) break;
      cur = p;
    }
    return 'other';
  };
  const bump = (key: string, kernel: boolean, sym: string) => {
    let r = rows.get(key);
    if (!r) rows.set(key, (r = { samples: 0, kernel: 0, syms: new Map() }));
    r.samples++;
    if (kernel) r.kernel++;
    if (input.top > 0) r.syms.set(sym, (r.syms.get(sym) ?? 0) + 1);
  };

  // Markers per QEMU pid, in time order.
  const vmPid = new Map(input.markers.filter((m) => m.pid !== undefined).map((m) => [m.vm, m.pid as number]));
  const pidMarks = new Map<number, Marker[]>();
  for (const m of [...input.markers].sort((a, b) => a.t - b.t)) {
    const pid = vmPid.get(m.vm);
    if (pid === undefined) continue;
    if (!pidMarks.has(pid)) pidMarks.set(pid, []);
    pidMarks.get(pid)!.push(m);
  }
  const phaseOf = (pid: number, t: number): string => {
    let what: keyof typeof PHASES = 'start';
    for (const m of pidMarks.get(pid) ?? []) if (m.t <= t) what = m.what;
    return PHASES[what];
  };

  for (const line of input.script.split('\n')) {
    const task = TASK.exec(line);
    if (task) {
      const [, , , , time, kind, child, childTid, ppid] = task;
      const t = Number(time) * 1000;
      if (kind === 'FORK' && child !== ppid && child === childTid) {
        parent.set(Number(child), Number(ppid));
        forkedAt.set(Number(child), t);
        commOf.set(Number(child), commOf.get(Number(ppid)) ?? '?');
      } else if (kind === 'EXIT' && child === childTid) {
        exitedAt.set(Number(child), t);
      }
      continue;
    }
    const comm = COMM.exec(line);
    if (comm) {
      if (comm[2] === comm[3]) commOf.set(Number(comm[2]), comm[1]);
      continue;
    }
    const s = SAMPLE.exec(line);
    if (!s) continue;
    const t = Number(s[4]) * 1000;
    if (!inWindow(t)) continue;
    const pid = Number(s[2]);
    if (pid === 0) continue; // idle
    busy++;
    const kernel = s[7] === '[kernel.kallsyms]';
    const sym = `${kernel ? 'k' : 'u'} ${s[6]}${kernel ? '' : ` (${s[7].split('/').pop()})`}`;
    const g = group(pid);
    const c = s[1];
    if (g === 'daemon') {
      if (pid === input.daemonPid) bump(`${input.name}: the daemon itself`, kernel, sym);
      else bump(`${input.name}: ${c === 'node' ? 'node (a child before its exec)' : c}`, kernel, sym);
      if (c.startsWith('qemu-system')) {
        const phase = phaseOf(pid, t);
        qemuPhases.set(phase, (qemuPhases.get(phase) ?? 0) + 1);
        const per = perVm.get(pid) ?? new Map<string, number>();
        per.set(phase, (per.get(phase) ?? 0) + 1);
        perVm.set(pid, per);
      }
    } else if (g === 'bench') {
      bump(
        pid === input.benchPid
          ? 'bench process (spawning the CLI)'
          : c === 'docker'
            ? 'docker CLI'
            : `bench's child: ${c}`,
        kernel,
        sym,
      );
    } else if (g === 'kernel') {
      bump('kernel threads (kworker, ksoftirqd, rcu...)', kernel, sym);
    } else {
      bump(`other (not ours): ${c}`, kernel, sym);
    }
  }
  for (const [pid, t] of forkedAt) {
    if (!inWindow(t)) continue;
    const g = group(pid);
    if (g !== 'daemon' && g !== 'bench') continue;
    const key = `${g === 'daemon' ? `${input.name}: ` : ''}${commOf.get(pid) ?? '?'}`;
    spawned.set(key, (spawned.get(key) ?? 0) + 1);
  }

  const perRun = (n: number) => (n * input.periodMs) / input.runs;
  const wallPerRun = (input.t1 - input.t0) / input.runs;
  const out: string[] = [];
  out.push(
    `${input.name}: ${input.runs} runs, ${wallPerRun.toFixed(0)} ms of wall time per run, host CPU ${perRun(busy).toFixed(0)} ms per run (${((busy * input.periodMs) / (input.t1 - input.t0)).toFixed(2)} cores busy)`,
  );
  out.push('');
  out.push('| process | CPU per run | of it in the kernel |');
  out.push('| --- | --- | --- |');
  const sorted = [...rows.entries()].sort((a, b) => b[1].samples - a[1].samples);
  for (const [key, r] of sorted) {
    if (perRun(r.samples) < 0.5) continue;
    out.push(`| ${key} | ${perRun(r.samples).toFixed(1)} ms | ${perRun(r.kernel).toFixed(1)} ms |`);
  }
  const small = sorted.filter(([, r]) => perRun(r.samples) < 0.5).reduce((a, [, r]) => a + r.samples, 0);
  if (small) out.push(`| (rows under 0.5 ms each) | ${perRun(small).toFixed(1)} ms | |`);
  out.push(`| all but idle | ${perRun(busy).toFixed(1)} ms | |`);
  if (spawned.size) {
    out.push('');
    out.push(
      `processes started per run: ${[...spawned.entries()]
        .sort((a, b) => b[1] - a[1])
        .map(([k, n]) => `${k} ${(n / input.runs).toFixed(2)}`)
        .join(', ')}`,
    );
  }
  if (qemuPhases.size) {
    out.push('');
    out.push('| QEMU clone phase | CPU per run |');
    out.push('| --- | --- |');
    for (const [phase, n] of [...qemuPhases.entries()].sort((a, b) => b[1] - a[1]))
      out.push(`| ${phase} | ${perRun(n).toFixed(1)} ms |`);
  }
  // Per VM that lived its whole life in the window: warmed by the pool or handed out unwarmed.
  const kinds = new Map<string, { n: number; phases: Map<string, number> }>();
  for (const [pid, marks] of pidMarks) {
    const what = new Set(marks.map((m) => m.what));
    const forked = forkedAt.get(pid);
    if (
      !what.has('destroying') ||
      !what.has('handed out') ||
      forked === undefined ||
      !inWindow(forked) ||
      !inWindow(exitedAt.get(pid) ?? Infinity)
    )
      continue;
    const kind = what.has('warmed') ? 'warmed in the pool' : 'handed out unwarmed';
    const k = kinds.get(kind) ?? { n: 0, phases: new Map<string, number>() };
    k.n++;
    for (const [phase, n] of perVm.get(pid) ?? []) k.phases.set(phase, (k.phases.get(phase) ?? 0) + n);
    kinds.set(kind, k);
  }
  for (const [kind, k] of kinds) {
    const total = [...k.phases.values()].reduce((a, b) => a + b, 0);
    out.push('');
    out.push(
      `QEMU CPU of a clone ${kind} (${k.n} whole lives in the window), mean: ${((total * input.periodMs) / k.n).toFixed(1)} ms = ` +
        [...k.phases.entries()].map(([phase, n]) => `${phase} ${((n * input.periodMs) / k.n).toFixed(1)}`).join(', '),
    );
  }
  if (input.top > 0) {
    for (const [key, r] of sorted.slice(0, 8)) {
      if (!key.startsWith(input.name) && key !== 'docker CLI' && !key.startsWith('kernel')) continue;
      const top = [...r.syms.entries()].sort((a, b) => b[1] - a[1]).slice(0, input.top);
      out.push('');
      out.push(`top symbols of ${key}: ${top.map(([s, n]) => `${s} ${perRun(n).toFixed(1)}`).join('; ')}`);
    }
  }
  return { name: input.name, busyPerRunMs: perRun(busy), text: out.join('\n') };
}
