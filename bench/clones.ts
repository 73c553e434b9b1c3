/**
 * A VM cloned from a template against a booted one (src/vm/qemu/templates.ts), interleaved in
 * one run on the same guest kernel, TCG:
 *
 *   ready        QemuHypervisor.createVm until the VM answers (a clone: state loaded, handshake,
 *                ACTIVATE and its MAC set; a boot: virtiofsd, kernel boot, handshake)
 *   QEMU CPU     QEMU's user + system time at that moment: what one new VM costs the host's
 *                cores, which bounds how many VMs a second the host can start
 *   first true   createContainer of a busybox rootfs written into the fresh VM's share, then
 *                `true` to its exit: a clone runs kernel paths QEMU has not translated yet
 *   QEMU CPU after it   QEMU's CPU once that `true` exited: a VM's cost up to its first
 *                container, which work moved out of the ready phase (or into it) still counts in
 *   idle PSS     QEMU (+ virtiofsd for a boot) of each VM, once all of them sit idle side by
 *                side after their first `true` (a clone's RAM pages stay the template's until
 *                it writes them)
 *
 * The user-level figures beside dockerd (docker run back to back, in parallel) are bench:run's.
 *
 *   npm run bench:clones              BENCH_RUNS=7 for more runs (default 5)
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { QemuHypervisor } from '../src/vm/qemu/hypervisor';
import { processCpuMs } from '../src/vm/qemu/processes';
import { AgentClient } from '../src/vm/agent/client';
import { defaultGuestImages } from '../src/vm/guest-images';
import type { Vm, VmConfig } from '../src/vm/types';
import { setLogLevel } from '../src/util/log';
import { makeBusyboxRootfs, run } from '../test/helpers/agent-fixtures';
import { median } from './common';

const RUNS = Math.max(3, Number(process.env.BENCH_RUNS ?? 5));
const CONFIG: VmConfig = { size: { memoryMiB: 256, cpus: 1 }, devices: { nics: 1 } };
const now = (): number => Number(process.hrtime.bigint()) / 1e6;

interface Figures {
  ready: number[];
  cpu: number[];
  first: number[];
  cpuFirst: number[];
  pss: number[];
}

async function main(): Promise<void> {
  setLogLevel('warn');
  const guest = defaultGuestImages();
  if (!guest.templates)
    throw new Error('the guest kernel cannot be cloned (no 9p): run scripts/guest-kernel.sh and guest/build.sh');
  const roots = ['boot', 'clone'].map((k) => fs.mkdtempSync(path.join(os.tmpdir(), `pv-bench-${k}-`)));
  const make = (execRoot: string, templates: boolean) =>
    new QemuHypervisor({ execRoot, ...guest, templates, accel: 'tcg', connectAgent: (e) => AgentClient.connect(e) });
  const hvs = { boot: make(roots[0], false), clone: make(roots[1], true) };
  const figs: Record<'boot' | 'clone', Figures> = {
    boot: { ready: [], cpu: [], first: [], cpuFirst: [], pss: [] },
    clone: { ready: [], cpu: [], first: [], cpuFirst: [], pss: [] },
  };
  const vms: Vm[] = [];
  try {
    const t0 = now();
    await (await hvs.clone.createVm(CONFIG)).destroy(); // builds the template (untimed)
    process.stdout.write(`template built and first clone made in ${(now() - t0).toFixed(0)} ms\n`);
    for (let i = 0; i < RUNS; i++) {
      for (const kind of ['boot', 'clone'] as const) {
        const start = now();
        const vm = await hvs[kind].createVm(CONFIG);
        figs[kind].ready.push(now() - start);
        figs[kind].cpu.push(processCpuMs(vm.pid) ?? NaN);
        vms.push(vm);
        const rel = `containers/b${i}/rootfs`;
        makeBusyboxRootfs(path.join(vm.shareDir, rel));
        const t1 = now();
        await vm.agent.createContainer({ id: `b${i}`, rootfs: rel });
        const r = await run(vm.agent, `b${i}`, ['true']);
        if (r.status.exitCode !== 0) throw new Error(`true exited ${JSON.stringify(r.status)}`);
        figs[kind].first.push(now() - t1);
        figs[kind].cpuFirst.push(processCpuMs(vm.pid) ?? NaN);
      }
    }
    await new Promise((r) => setTimeout(r, 2000));
    for (const [i, vm] of vms.entries())
      figs[i % 2 === 0 ? 'boot' : 'clone'].pss.push((await vm.memoryUsage()) / 1048576);
  } finally {
    for (const vm of vms) await vm.destroy().catch(() => undefined);
    await hvs.boot.close();
    await hvs.clone.close();
    for (const r of roots) fs.rmSync(r, { recursive: true, force: true });
  }
  const cell = (xs: number[], unit: string, digits = 0) =>
    `${median(xs).toFixed(digits)} ${unit} (${Math.min(...xs).toFixed(digits)}-${Math.max(...xs).toFixed(digits)})`;
  process.stdout.write(
    `\n${RUNS} of each, interleaved, medians (min-max); ${os.cpus().length} CPUs, load ${os.loadavg()[0].toFixed(1)}\n\n`,
  );
  process.stdout.write('| | booted VM | clone of a template |\n| --- | --- | --- |\n');
  process.stdout.write(`| ready (createVm) | ${cell(figs.boot.ready, 'ms')} | ${cell(figs.clone.ready, 'ms')} |\n`);
  process.stdout.write(`| QEMU CPU when ready | ${cell(figs.boot.cpu, 'ms')} | ${cell(figs.clone.cpu, 'ms')} |\n`);
  process.stdout.write(
    `| first container + true | ${cell(figs.boot.first, 'ms')} | ${cell(figs.clone.first, 'ms')} |\n`,
  );
  process.stdout.write(
    `| QEMU CPU after it | ${cell(figs.boot.cpuFirst, 'ms')} | ${cell(figs.clone.cpuFirst, 'ms')} |\n`,
  );
  process.stdout.write(
    `| idle PSS, ${RUNS} of a kind side by side | ${cell(figs.boot.pss, 'MiB', 1)} | ${cell(figs.clone.pss, 'MiB', 1)} |\n`,
  );
}

main().catch((err) => {
  process.stderr.write(`bench:clones failed: ${(err as Error).stack ?? err}\n`);
  process.exit(1);
});
