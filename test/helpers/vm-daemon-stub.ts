/**
 * A stand-in for a daemon in the VM integration test: boots one VM in `<execRoot>` with the
 * real QemuHypervisor and agent client, prints `VM <id>` and waits to be killed (SIGKILL, like
 * a crashed daemon). Run with `node -r ts-node/register/transpile-only vm-daemon-stub.ts
 * <execRoot> <bootTimeoutMs>`.
 */
import { QemuHypervisor } from '../../src/vm/qemu/hypervisor';
import { AgentClient } from '../../src/vm/agent/client';
import { defaultGuestImages } from '../../src/vm/guest-images';

async function main(): Promise<void> {
  const [execRoot, timeout] = process.argv.slice(2);
  const hv = new QemuHypervisor({
    execRoot,
    ...defaultGuestImages(),
    accel: 'tcg',
    bootTimeoutMs: Number(timeout),
    connectAgent: (e) => AgentClient.connect(e),
  });
  // With every device, so that adopting it covers the tap and the volume share's virtiofsd.
  const vm = await hv.createVm({ size: { memoryMiB: 256, cpus: 1 }, devices: { nics: 1, volumes: true } });
  process.stdout.write(`VM ${vm.id}\n`);
  setInterval(() => undefined, 1 << 30);
}

main().catch((err: Error) => {
  process.stderr.write(`${err.message}\n`);
  process.exit(1);
});
