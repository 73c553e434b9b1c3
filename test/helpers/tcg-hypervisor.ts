/**
 * The QEMU hypervisor the tests that boot real VMs share: the guest images bootstrap built,
 * TCG (these machines have no KVM), 30 s for a boot, and the real agent client.
 */
import { AgentClient } from '../../src/vm/agent/client';
import { defaultGuestImages } from '../../src/vm/guest-images';
import { QemuHypervisor } from '../../src/vm/qemu/hypervisor';
import type { QemuHypervisorOptions } from '../../src/vm/qemu/start-host';

/** A hypervisor whose VMs live under `execRoot`; `over` adds or replaces options. */
export function tcgHypervisor(execRoot: string, over: Partial<QemuHypervisorOptions> = {}): QemuHypervisor {
  return new QemuHypervisor({
    execRoot,
    ...defaultGuestImages(),
    accel: 'tcg',
    bootTimeoutMs: 30_000,
    connectAgent: (e) => AgentClient.connect(e),
    ...over,
  });
}
