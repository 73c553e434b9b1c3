/**
 * What the jail of a VM's QEMU (src/vm/qemu/confinement/jail.ts, host/jail) costs, against the same VM
 * without it (PODVISOR_JAIL=0 for that VM's start: setpriv's bounding set and the seccomp
 * sandbox only) and jailed without its network namespace (PODVISOR_JAIL_NETNS=0), interleaved
 * in one run, TCG, for a booted VM and a clone of a template:
 *
 *   ready      QemuHypervisor.createVm until the VM answers
 *   QEMU CPU   QEMU's user + system time when ready (the jail's root, its mounts and
 *              pivot_root, is built in QEMU's process before its exec, so it counts here; the
 *              cgroup, taps and unshare before the fork are the supervisor's, and do not)
 *   idle PSS   QEMU (+ virtiofsd for a boot, + their jails' supervisors) of each VM once all
 *              sit idle side by side (Vm.memoryUsage)
 *   peak       the VM cgroup's memory peak (jailed VMs only: the unjailed have no cgroup):
 *              the guest RAM it touched and QEMU's own, under the cgroup's limit
 *   jail alone the jail with a helper's paths (a VM directory, a binary and its libraries),
 *              PID namespace, VM user, exec'ing `true` and waiting for it, with and without
 *              its network namespace (JAIL_ALONE_RUNS each, interleaved): the namespace's
 *              own cost, which the VMs' start times hide in their noise
 *
 *   npm run bench:jail              BENCH_RUNS=7 for more runs (default 5)
 *   BENCH_KINDS='boot, jailed;clone, jailed'   only those kinds (';' between them)
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { QemuHypervisor } from '../src/vm/qemu/hypervisor';
import { processCpuMs } from '../src/vm/qemu/processes/processes';
import { AgentClient } from '../src/vm/agent/client';
import { defaultGuestImages } from '../src/vm/guest-images';
import { vmPaths } from '../src/vm/qemu/runtime-dir';
import { cgroupLayout, cgroupName } from '../src/vm/qemu/confinement/vm-cgroup';
import { helperJailArgs, jailBinary, vmUid } from '../src/vm/qemu/confinement/jail';
import type { Vm, VmConfig } from '../src/vm/types';
import { setLogLevel } from '../src/util/log';
import { median } from './common';

const RUNS = Math.max(3, Number(process.env.BENCH_RUNS ?? 5));
const CONFIG: VmConfig = { size: { memoryMiB: 256, cpus: 1 }, devices: { nics: 1 } };
const ALL_KINDS = [
  'boot, jailed',
  'boot, jailed, no netns',
  'boot, no jail',
  'clone, jailed',
  'clone, jailed, no netns',
  'clone, no jail',
] as const;
type Kind = (typeof ALL_KINDS)[number];
const KINDS: Kind[] = process.env.BENCH_KINDS
  ? ALL_KINDS.filter((k) => process.env.BENCH_KINDS!.split(';').includes(k))
  : [...ALL_KINDS];
const JAIL_ALONE_RUNS = 100;
const now = (): number => Number(process.hrtime.bigint()) / 1e6;

/** The memory peak of the cgroup of VM directory `dir`, MiB (NaN without one). */
function cgroupPeakMiB(dir: string): number {
  const layout = cgroupLayout();
  if (!layout) return NaN;
  const file = layout.kind === 'unified' ? 'memory.peak' : 'memory.max_usage_in_bytes';
  try {
    return Number(fs.readFileSync(path.join(layout.parents.memory, cgroupName(dir), file), 'utf8')) / 1048576;
  } catch {
    return NaN;
  }
}

/** ms of each of JAIL_ALONE_RUNS starts of the jail alone (exec'ing `true`), with and without its network namespace. */
function jailAlone(dir: string): { netns: number[]; without: number[] } {
  const jail = jailBinary();
  if (!jail) throw new Error('host/out/podvisor-jail is missing (scripts/bootstrap.sh)');
  const bin = '/bin/true';
  const args = helperJailArgs(bin, [dir], [], ['dac_override'], vmUid(dir));
  const out = { netns: [] as number[], without: [] as number[] };
  for (let i = 0; i < JAIL_ALONE_RUNS; i++)
    for (const netns of [true, false]) {
      const start = now();
      const r = spawnSync(jail, [...args, '--pid-ns', ...(netns ? ['--net-ns'] : []), '--', bin]);
      if (r.status !== 0) throw new Error(`the jail failed: ${r.stderr.toString()}`);
      (netns ? out.netns : out.without).push(now() - start);
    }
  return out;
}

async function main(): Promise<void> {
  setLogLevel('warn');
  const guest = defaultGuestImages();
  const roots = ['boot', 'clone'].map((k) => fs.mkdtempSync(path.join(os.tmpdir(), `pv-bench-jail-${k}-`)));
  const make = (execRoot: string, templates: boolean) =>
    new QemuHypervisor({ execRoot, ...guest, templates, accel: 'tcg', connectAgent: (e) => AgentClient.connect(e) });
  const hvs = { boot: make(roots[0], false), clone: make(roots[1], true) };
  type Figures = { ready: number[]; cpu: number[]; pss: number[]; peak: number[] };
  const figs = {} as Record<Kind, Figures>;
  for (const k of KINDS) figs[k] = { ready: [], cpu: [], pss: [], peak: [] };
  const vms: Array<{ kind: Kind; vm: Vm; dir: string }> = [];
  let alone = { netns: [] as number[], without: [] as number[] };
  try {
    if (KINDS.length === 0) throw new Error(`BENCH_KINDS names none of: ${ALL_KINDS.join('; ')}`);
    alone = jailAlone(roots[0]);
    await (await hvs.clone.createVm(CONFIG)).destroy(); // the template (untimed)
    for (let i = 0; i < RUNS; i++)
      for (const kind of KINDS) {
        const hv = kind.startsWith('boot') ? hvs.boot : hvs.clone;
        process.env.PODVISOR_JAIL = kind.endsWith('no jail') ? '0' : '1';
        process.env.PODVISOR_JAIL_NETNS = kind.endsWith('no netns') ? '0' : '1';
        const start = now();
        const vm = await hv.createVm(CONFIG);
        figs[kind].ready.push(now() - start);
        figs[kind].cpu.push(processCpuMs(vm.pid) ?? NaN);
        vms.push({ kind, vm, dir: vmPaths(hv.opts.execRoot, vm.id).dir });
      }
    delete process.env.PODVISOR_JAIL;
    delete process.env.PODVISOR_JAIL_NETNS;
    await new Promise((r) => setTimeout(r, 2000));
    for (const { kind, vm, dir } of vms) {
      figs[kind].pss.push((await vm.memoryUsage()) / 1048576);
      figs[kind].peak.push(cgroupPeakMiB(dir));
    }
  } finally {
    delete process.env.PODVISOR_JAIL;
    delete process.env.PODVISOR_JAIL_NETNS;
    for (const { vm } of vms) await vm.destroy().catch(() => undefined);
    await hvs.boot.close();
    await hvs.clone.close();
    for (const r of roots) fs.rmSync(r, { recursive: true, force: true });
  }
  const cell = (xs: number[], unit: string, digits = 0) =>
    xs.every(Number.isNaN)
      ? '-'
      : `${median(xs).toFixed(digits)} ${unit} (${Math.min(...xs).toFixed(digits)}-${Math.max(...xs).toFixed(digits)})`;
  process.stdout.write(
    `\n${RUNS} of each, interleaved, medians (min-max); ${os.cpus().length} CPUs, load ${os.loadavg()[0].toFixed(1)}\n\n`,
  );
  process.stdout.write(`| | ${KINDS.join(' | ')} |\n| --- |${KINDS.map(() => ' --- |').join('')}\n`);
  const row = (what: string, f: (k: Figures) => string) =>
    process.stdout.write(`| ${what} | ${KINDS.map((k) => f(figs[k])).join(' | ')} |\n`);
  row('ready (createVm)', (k) => cell(k.ready, 'ms'));
  row('QEMU CPU when ready', (k) => cell(k.cpu, 'ms'));
  row(`idle PSS, ${RUNS * KINDS.length} VMs side by side`, (k) => cell(k.pss, 'MiB', 1));
  row(`VM cgroup's memory peak (${CONFIG.size.memoryMiB} MiB guests)`, (k) => cell(k.peak, 'MiB', 1));
  process.stdout.write(
    `\nThe jail alone (a helper's paths, PID namespace, VM user, exec'ing true), ${JAIL_ALONE_RUNS} each, interleaved: ` +
      `with its network namespace ${cell(alone.netns, 'ms', 2)}, without ${cell(alone.without, 'ms', 2)}\n`,
  );
}

main().catch((err) => {
  process.stderr.write(`bench:jail failed: ${(err as Error).stack ?? err}\n`);
  process.exit(1);
});
