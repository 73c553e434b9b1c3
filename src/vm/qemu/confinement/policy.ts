/**
 * Whether VMs may start without their confinement (the jail: host/jail, ./jail.ts; their
 * cgroup: ./vm-cgroup.ts) when this host lacks a piece of it: no jail binary, a daemon not run
 * as root, no cgroup hierarchy with the memory and pids controllers, cgroups it cannot write.
 * By default it may not: such a VM's start fails, its error naming the missing piece and the
 * fix (confinementMissing). podvisord's --unconfined-vms (daemon.json "unconfined-vms") says
 * it may: the VM then starts with a warning, its QEMU in the daemon's mount namespace, seeing
 * the host's files, or without the memory and pids limits of its cgroup (docs/security.md).
 */
import { UnavailableError } from '../../../errors';
import { logger } from '../../../util/log';

const log = logger('vm');

let unconfinedAllowed = false;
const warned = new Set<string>();

/** Allow (or, again, refuse) VMs started without a piece of their confinement (--unconfined-vms). */
export function allowUnconfinedVms(allowed: boolean): void {
  unconfinedAllowed = allowed;
}

/** Whether VMs may start without a piece of their confinement (--unconfined-vms). */
export function unconfinedVmsAllowed(): boolean {
  return unconfinedAllowed;
}

/**
 * The confinement piece `missing` (what is not there, and how to put it there: `fix`) is not
 * there: with --unconfined-vms, warn once that VMs start without `givenUp`; else the
 * UnavailableError that fails the VM's start.
 */
export function confinementMissing(missing: string, fix: string, givenUp: string): void {
  if (!unconfinedAllowed)
    throw new UnavailableError(
      `cannot start a VM without its confinement: ${missing}; ${fix}, or start podvisord with --unconfined-vms to run VMs without ${givenUp}`,
    );
  if (warned.has(missing)) return;
  warned.add(missing);
  log.warn(`${missing}: VMs run without ${givenUp} (--unconfined-vms)`);
}
