/**
 * Where a start's time and CPU go, for bench:run and bench:cri:
 *  - the phases of each pod start, read from podvisord's debug log: src/pod/lifecycle/runtime.ts logs
 *    `pod <id>: <phase> at +<ms> ms` as each phase of startPod ends (VM acquired, rootfs and
 *    bind sources mounted, on its network, files written, containers created and their inits
 *    started); each phase's own time is the difference to the lap before it;
 *  - the CPU of a daemon's process tree: each live process under it (the daemon, QEMU, helpers,
 *    containerd and shims) with what it reaped of its exited children, from /proc. A process
 *    that left the tree (a double fork to init) is not counted: the row says "tree".
 */
import * as fs from 'node:fs';
import { median } from './common';

/** The laps of startPod as runtime.ts words them, in order, with the phase each one ends. */
export const LAPS: ReadonlyArray<{ lap: RegExp; phase: string }> = [
  { lap: /^got VM /, phase: 'VM from the pool (or a clone)' },
  { lap: /^rootfs and bind sources mounted$/, phase: 'rootfs, upper disk, shares' },
  { lap: /^on its network$/, phase: 'network (endpoint or CNI ADD, tap, guest NIC)' },
  { lap: /^files written, accounts read on the host$/, phase: 'hosts, resolv.conf, accounts' },
  { lap: /^containers created, inits started$/, phase: 'agent: create and start the containers' },
];

/** The phases of every pod start in `log` (podvisord's output at --log-level debug), by pod id. */
export function startPhases(log: string): Map<string, Map<string, number>> {
  const out = new Map<string, Map<string, number>>();
  const last = new Map<string, number>();
  for (const m of log.matchAll(/\[pod\] pod ([0-9a-f]{12}): (.+?) at \+(\d+) ms$/gm)) {
    const [, id, lap, at] = m;
    const phase = LAPS.find((l) => l.lap.test(lap))?.phase;
    if (!phase) continue;
    const ms = Number(at);
    if (!out.has(id)) out.set(id, new Map());
    out.get(id)!.set(phase, ms - (last.get(id) ?? 0));
    last.set(id, ms);
  }
  return out;
}

/**
 * The lines of `log` from the ISO time `since` on (each line starts with its timestamp), so a
 * series' starts are read however much of the daemon's earlier output a helper kept.
 */
export function logSince(log: string, since: string): string {
  return log
    .split('\n')
    .filter((l) => /^\d{4}-\d\d-\d\dT/.test(l) && l.slice(0, since.length) >= since)
    .join('\n');
}

/** Median ms of each phase over the starts in `log` that logged every phase, and their count. */
export function phaseMedians(log: string): { starts: number; rows: Array<[string, number]> } {
  const whole = [...startPhases(log).values()].filter((p) => p.size === LAPS.length);
  return {
    starts: whole.length,
    rows: LAPS.map(({ phase }) => [phase, median(whole.map((p) => p.get(phase)!))]),
  };
}

/** The phases' table lines (markdown), with the sum beside the wall time of a start. */
export function phaseTable(log: string, wallMs?: number): string[] {
  const { starts, rows } = phaseMedians(log);
  if (starts === 0) return ['(no pod start with every phase in the daemon log)'];
  const sum = rows.reduce((a, [, ms]) => a + ms, 0);
  return [
    `| phase of a pod start (daemon debug log, median of ${starts}) | ms |`,
    '| --- | --- |',
    ...rows.map(([phase, ms]) => `| ${phase} | ${ms.toFixed(0)} |`),
    `| all of startPod | ${sum.toFixed(0)} |`,
    ...(wallMs !== undefined
      ? [`| the rest of the client's wall time (CLI, API, create, wait, exit) | ${(wallMs - sum).toFixed(0)} |`]
      : []),
  ];
}

/**
 * The steps of CRI sandboxes' network set-ups, from the line src/net/cni/sandbox-networks.ts
 * logs at debug level once a set-up ends (`sandbox <id>: network set up (<step> <ms> ms, ...)`),
 * for the sandboxes whose ids start with one of `ids` (the first 12 characters): each step's
 * median, in the order logged, and how many set-ups had it.
 */
export function cniStepTable(log: string, ids: string[]): string[] {
  const short = new Set(ids.map((id) => id.slice(0, 12)));
  const steps = new Map<string, number[]>();
  for (const m of log.matchAll(/\[cni\] sandbox ([0-9a-zA-Z_.-]{1,12}): network set up \((.*)\)$/gm)) {
    if (!short.has(m[1])) continue;
    for (const part of m[2].split(', ')) {
      const step = /^(.+) (\d+) ms$/.exec(part);
      if (step) steps.set(step[1], [...(steps.get(step[1]) ?? []), Number(step[2])]);
    }
  }
  if (steps.size === 0) return ['(no CNI set-up step in the daemon log)'];
  return [
    '| step of the CNI set-up (daemon debug log) | median ms | set-ups |',
    '| --- | --- | --- |',
    ...[...steps].map(([step, all]) => `| ${step} | ${median(all).toFixed(0)} | ${all.length} |`),
  ];
}

/** USER_HZ ticks to ms (Linux's USER_HZ is 100). */
const TICK_MS = 10;

/** The CPU (ms) of a process and what it reaped of its exited children, or undefined when gone. */
function processCpu(pid: number): { self: number; reaped: number; name: string; ppid: number } | undefined {
  let stat: string;
  try {
    stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  const close = stat.lastIndexOf(')');
  const name = stat.slice(stat.indexOf('(') + 1, close);
  const f = stat
    .slice(close + 2)
    .split(' ')
    .map(Number);
  // Fields after the name: state(0) ppid(1) ... utime(11) stime(12) cutime(13) cstime(14).
  return { self: (f[11] + f[12]) * TICK_MS, reaped: (f[13] + f[14]) * TICK_MS, name, ppid: f[1] };
}

/**
 * CPU ms of the live process tree under `root` (root included), summed by process name, with
 * what the tree's processes reaped of their exited children (QEMUs of removed containers,
 * helpers) as a row of its own.
 */
export function treeCpuByName(root: number): Map<string, number> {
  const procs = new Map<number, { self: number; reaped: number; name: string; ppid: number }>();
  for (const e of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    const p = processCpu(Number(e));
    if (p) procs.set(Number(e), p);
  }
  const inTree = (pid: number): boolean => {
    for (let p: number | undefined = pid, hops = 0; p && hops < 64; p = procs.get(p)?.ppid, hops++)
      if (p === root) return true;
    return false;
  };
  const out = new Map<string, number>();
  const add = (name: string, ms: number) => out.set(name, (out.get(name) ?? 0) + ms);
  for (const [pid, p] of procs) {
    if (!inTree(pid)) continue;
    add(pid === root ? `${p.name} (the daemon)` : p.name, p.self);
    add('exited processes of the tree (reaped)', p.reaped);
  }
  return out;
}

/** The difference of two treeCpuByName readings (what each name used in between). */
export function cpuBetween(before: Map<string, number>, after: Map<string, number>): Map<string, number> {
  const out = new Map<string, number>();
  for (const name of new Set([...before.keys(), ...after.keys()])) {
    const d = (after.get(name) ?? 0) - (before.get(name) ?? 0);
    if (d > 0) out.set(name, d);
  }
  return out;
}

/**
 * Lines `name: N ms per start` of a cpuBetween result over `starts` starts, biggest first.
 * Reaped processes count when reaped: a pool VM's QEMU booted before the series counts in it.
 */
export function cpuLines(used: Map<string, number>, starts: number): string[] {
  return [...used.entries()]
    .sort((a, b) => b[1] - a[1])
    .map(([name, ms]) => `${name}: ${(ms / starts).toFixed(0)} ms per start`);
}
