/**
 * Cold boot with and without devices, interleaved in one run so that a busy host weighs on
 * both alike: QemuHypervisor.createVm until the agent answered, for a VM with no NIC (the
 * command line before the device model), with one NIC (what the daemon's pool boots) and with
 * one NIC plus the volume share; each VM is destroyed before the next boot.
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
import { setLogLevel } from '../src/util/log';
import { median } from './common';

const RUNS = Number(process.env.BENCH_RUNS ?? 7);
const size = { memoryMiB: 256, cpus: 1 };
const CASES: Array<[string, VmConfig]> = [
  ['no device', { size }],
  ['1 NIC', { size, devices: { nics: 1 } }],
  ['1 NIC + volume share', { size, devices: { nics: 1, volumes: true } }],
];

async function main(): Promise<void> {
  setLogLevel('warn');
  const execRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'pv-bootdev-'));
  const hv = new QemuHypervisor({ execRoot, ...defaultGuestImages(), accel: 'tcg', connectAgent: (e) => AgentClient.connect(e) });
  const times = new Map<string, number[]>(CASES.map(([n]) => [n, []]));
  try {
    for (let i = 0; i < RUNS; i++) {
      for (const [name, config] of CASES) {
        const t0 = performance.now();
        const vm = await hv.createVm(config);
        times.get(name)!.push(performance.now() - t0);
        await vm.destroy();
      }
    }
  } finally {
    await hv.close();
    fs.rmSync(execRoot, { recursive: true, force: true });
  }
  for (const [name, xs] of times) console.log(`${name.padEnd(22)} ${median(xs).toFixed(0)} ms  [${xs.map((x) => x.toFixed(0)).join(' ')}]`);
}

void main();
