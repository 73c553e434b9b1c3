/**
 * A CRI sandbox's pod network (SandboxSpec.cni): the node's CNI network set up in a network
 * namespace of the sandbox (src/net/cni), the VM's own NIC joined to it, and the files the
 * containers get with it. The VM of such a pod has exactly one NIC, used by no Docker network.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Vm } from '../../vm/types';
import type { CniSandboxPlan, PodSpec } from '../types';
import type { PodContext } from '../context';
import { hostsWithAddress } from './network';
import { hostsFile } from '../lifecycle/runtime';

/** NICs the VM of a pod asks for when it is on the CNI network. */
export const CNI_VM_NICS = 1;

/** /etc/resolv.conf from a CRI DNSConfig (the host's when it names no server, search or option). */
export function resolvFromDns(dns: CniSandboxPlan['dns'], hostResolv: string): string {
  if (!dns || (!dns.servers.length && !dns.searches.length && !dns.options.length)) return hostResolv;
  const lines = [
    ...dns.servers.map((s) => `nameserver ${s}`),
    ...(dns.searches.length ? [`search ${dns.searches.join(' ')}`] : []),
    ...(dns.options.length ? [`options ${dns.options.join(' ')}`] : []),
  ];
  return lines.join('\n') + '\n';
}

/**
 * Set up the sandbox's CNI network and join the VM to it; what startPod's joinNetwork returns.
 * A failure of either leaves nothing set up.
 */
export async function joinCni(
  ctx: PodContext,
  spec: PodSpec,
  vm: Vm,
  hostResolv: string,
): Promise<{ hosts: string; resolv: string; undo(): Promise<void> }> {
  const cni = ctx.deps.cni;
  const plan = spec.cni as CniSandboxPlan;
  if (!cni) throw new Error('this daemon runs no CNI network: a CRI sandbox cannot start');
  const nic = vm.devices.nics[0];
  if (!nic) throw new Error(`VM ${vm.id} has no NIC for the pod network`);
  // The set-up joins the VM too (a failure undoes both), its tap moved in beside the plugins.
  const net = await cni.setUp(
    { id: spec.id, pod: plan.pod, portMappings: plan.portMappings },
    { tap: nic.tap, guestName: nic.guestName, agent: vm.agent },
  );
  return {
    hosts: net.ip ? hostsWithAddress(spec.hostname, spec.domainname, net.ip) : hostsFile(spec.hostname),
    resolv: resolvFromDns(plan.dns, hostResolv),
    undo: () => cni.tearDown(spec.id),
  };
}

/** The hosts and resolv.conf a CRI sandbox's infra container got (in `dir`), for a container joining it. */
export async function sandboxFiles(dir: string): Promise<{ hosts: string; resolv: string; undo(): Promise<void> }> {
  const [hosts, resolv] = await Promise.all([
    fs.promises.readFile(path.join(dir, 'hosts'), 'utf8'),
    fs.promises.readFile(path.join(dir, 'resolv.conf'), 'utf8'),
  ]);
  return { hosts, resolv, undo: () => Promise.resolve() };
}
