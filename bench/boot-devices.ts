/**
 * Cold boot with and without devices, interleaved in one run so that a busy host weighs on
 * both alike: QemuHypervisor.createVm until the agent answered, for a VM with no NIC (the
 * command line before the device model), with one NIC, with three (what the daemon's pool
 * boots for networked pods: the spares serve `docker network connect`, microvm having no
 * hot-plug) and with one NIC plus the volume share; and the QEMU process's private memory
 * (Private_Clean + Private_Dirty of smaps_rollup: what this VM alone costs, whatever other
 * QEMUs share) 1 s after the boot. Each VM is destroyed before the next boot.
 *
 *   npx ts-node --transpile-only -P tsconfig.json bench/boot-devices.ts     BENCH_RUNS=9 (default 7)
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { QemuHypervisor } from '../src/vm/qemu/hypervisor';
import { AgentClient } from '../src/vm/agent/client';
import { defaultGuestImages } from '../src/vm/guest-images';
import type { VmConfig } from '../src/vm/types';
import type { QemuVm } from '../src/vm/qemu/qemu-vm';
import { setLogLevel } from '../src/util/log';
import { median } from './common';

const RUNS = Number(process.env.BENCH_RUNS ?? 7);
const size = { memoryMiB: 256, cpus: 1 };
const CASES: Array<[string, VmConfig]> = [
  ['no device', { size }],
  ['1 NIC', { size, devices: { nics: 1 } }],
  ['3 NICs', { size, devices: { nics: 3 } }],
  ['1 NIC + volume share', { size, devices: { nics: 1, volumes: true } }],
];

/** Private memory (clean + dirty) of process `pid` in MiB. */
function privateMiB(pid: number): number {
  const text = fs.readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
  const kib = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+)`, 'm').exec(text)?.[1] ?? 0);
  return (kib('Private_Clean') + kib('Private_Dirty')) / 1024;
}

async function main(): Promise<void> {
  setLogLevel('warn');
  const execRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'pv-bootdev-'));
  const hv = new QemuHypervisor({
    execRoot,
    ...defaultGuestImages(),
    accel: 'tcg',
    connectAgent: (e) => AgentClient.connect(e),
  });
  const times = new Map<string, number[]>(CASES.map(([n]) => [n, []]));
  const mem = new Map<string, number[]>(CASES.map(([n]) => [n, []]));
  try {
    for (let i = 0; i < RUNS; i++) {
      for (const [name, config] of CASES) {
        const t0 = performance.now();
        const vm = await hv.createVm(config);
        times.get(name)!.push(performance.now() - t0);
        await new Promise((r) => setTimeout(r, 1000));
        mem.get(name)!.push(privateMiB((vm as QemuVm).pid));
        await vm.destroy();
      }
    }
  } finally {
    await hv.close();
    fs.rmSync(execRoot, { recursive: true, force: true });
  }
  for (const [name, xs] of times) {
    const m = mem.get(name)!;
    console.log(
      `${name.padEnd(22)} boot ${median(xs).toFixed(0)} ms  [${xs.map((x) => x.toFixed(0)).join(' ')}]   QEMU private ${median(m).toFixed(1)} MiB  [${m.map((x) => x.toFixed(1)).join(' ')}]`,
    );
  }
}

void main();
