/**
 * A VM cloned from a template against a booted one (src/vm/qemu/snapshots/templates.ts), interleaved in
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
 *                it writes them), and its parts: TCG's code buffer (none under KVM), guest RAM,
 *                QEMU's own (bench/idle-memory.ts)
 *
 * A third column is a clone whose container has its writable layer on an upper disk: block
 * mode, the daemon's default (a clone with the disk device and the layers share, a fresh ext4
 * file made on the host and put behind the device, the container created on it), so the idle
 * PSS of a block-mode container is printed here too.
 *
 * The user-level figures beside dockerd (docker run back to back, in parallel) are bench:run's.
 *
 *   npm run bench:clones              BENCH_RUNS=7 for more runs (default 5)
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { QemuHypervisor } from '../src/vm/qemu/hypervisor';
import { processCpuMs } from '../src/vm/qemu/processes/processes';
import { AgentClient } from '../src/vm/agent/client';
import { defaultGuestImages } from '../src/vm/guest-images';
import type { Vm, VmConfig } from '../src/vm/types';
import { setLogLevel } from '../src/util/log';
import { makeUpperDisk } from '../src/storage/upper-disk-file';
import { UPPER_DISK_BYTES } from '../src/vm/devices/upper-disk/upper-disk';
import { makeBusyboxRootfs, run } from '../test/helpers/agent-fixtures';
import { median } from './common';
import { qemuPssParts, type QemuPssParts } from './idle-memory';

const RUNS = Math.max(3, Number(process.env.BENCH_RUNS ?? 5));
const CONFIG: VmConfig = { size: { memoryMiB: 256, cpus: 1 }, devices: { nics: 1 } };
const BLOCK_CONFIG: VmConfig = { ...CONFIG, devices: { nics: 1, upperDisk: true } };
const KINDS = ['boot', 'clone', 'block'] as const;
type Kind = (typeof KINDS)[number];
const now = (): number => Number(process.hrtime.bigint()) / 1e6;

interface Figures {
  ready: number[];
  cpu: number[];
  first: number[];
  cpuFirst: number[];
  pss: number[];
  parts: QemuPssParts[];
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
  const empty = (): Figures => ({ ready: [], cpu: [], first: [], cpuFirst: [], pss: [], parts: [] });
  const figs: Record<Kind, Figures> = { boot: empty(), clone: empty(), block: empty() };
  const vms: Array<{ kind: Kind; vm: Vm }> = [];
  try {
    const t0 = now();
    // The templates, one per device set (untimed).
    await (await hvs.clone.createVm(CONFIG)).destroy();
    await (await hvs.clone.createVm(BLOCK_CONFIG)).destroy();
    process.stdout.write(`templates built and first clones made in ${(now() - t0).toFixed(0)} ms\n`);
    for (let i = 0; i < RUNS; i++) {
      for (const kind of KINDS) {
        const disk = path.join(roots[1], `upper-${i}.ext4`);
        if (kind === 'block') await makeUpperDisk(disk, UPPER_DISK_BYTES); // made before, as the daemon's pending disk
        const start = now();
        const vm = await (kind === 'boot' ? hvs.boot : hvs.clone).createVm(kind === 'block' ? BLOCK_CONFIG : CONFIG);
        figs[kind].ready.push(now() - start);
        figs[kind].cpu.push(processCpuMs(vm.pid) ?? NaN);
        vms.push({ kind, vm });
        const id = `${kind[0]}${i}`;
        const rel = `containers/${id}/rootfs`;
        makeBusyboxRootfs(path.join(vm.shareDir, rel));
        const t1 = now();
        if (kind === 'block') {
          await vm.attachUpperDisk!(disk);
          await vm.agent.createContainer({ id, rootfs: rel, upperDisk: vm.devices.upperDisk!.guestName });
        } else await vm.agent.createContainer({ id, rootfs: rel });
        const r = await run(vm.agent, id, ['true']);
        if (r.status.exitCode !== 0) throw new Error(`true exited ${JSON.stringify(r.status)}`);
        figs[kind].first.push(now() - t1);
        figs[kind].cpuFirst.push(processCpuMs(vm.pid) ?? NaN);
      }
    }
    await new Promise((r) => setTimeout(r, 2000));
    for (const { kind, vm } of vms) {
      figs[kind].pss.push((await vm.memoryUsage()) / 1048576);
      figs[kind].parts.push(qemuPssParts(vm.pid));
    }
  } finally {
    for (const { vm } of vms) await vm.destroy().catch(() => undefined);
    await hvs.boot.close();
    await hvs.clone.close();
    for (const r of roots) fs.rmSync(r, { recursive: true, force: true });
  }
  const cell = (xs: number[], unit: string, digits = 0) =>
    `${median(xs).toFixed(digits)} ${unit} (${Math.min(...xs).toFixed(digits)}-${Math.max(...xs).toFixed(digits)})`;
  process.stdout.write(
    `\n${RUNS} of each, interleaved, medians (min-max); ${os.cpus().length} CPUs, load ${os.loadavg()[0].toFixed(1)}\n\n`,
  );
  const row = (what: string, f: (k: Figures) => string) =>
    process.stdout.write(`| ${what} | ${KINDS.map((k) => f(figs[k])).join(' | ')} |\n`);
  const part = (k: Figures, pick: (p: QemuPssParts) => number) => cell(k.parts.map(pick), 'MiB', 1);
  process.stdout.write(
    '| | booted VM | clone of a template | clone, block-mode container |\n| --- | --- | --- | --- |\n',
  );
  row('ready (createVm)', (k) => cell(k.ready, 'ms'));
  row('QEMU CPU when ready', (k) => cell(k.cpu, 'ms'));
  row('first container + true', (k) => cell(k.first, 'ms'));
  row('QEMU CPU after it', (k) => cell(k.cpuFirst, 'ms'));
  row(`idle PSS, ${RUNS} of a kind side by side`, (k) => cell(k.pss, 'MiB', 1));
  row("of which TCG's code buffer (QEMU's)", (k) => part(k, (p) => p.jit));
  row('of which guest RAM', (k) => part(k, (p) => p.guestRam));
  row("of which QEMU's own", (k) => part(k, (p) => p.qemu));
  row("QEMU's PSS without the code buffer (as under KVM)", (k) => part(k, (p) => p.guestRam + p.qemu));
}

main().catch((err) => {
  process.stderr.write(`bench:clones failed: ${(err as Error).stack ?? err}\n`);
  process.exit(1);
});
