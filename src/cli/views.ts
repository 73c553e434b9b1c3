/**
 * The tables of `podvisor list`: pods (with READY as kubectl shows it, ready app containers
 * over app containers, and their RESTARTS summed), containers (each one's READY and
 * RESTARTS), VMs.
 */
import { ago, commandText, shortId, table } from './output';
import type { NativePodView as Pod, NativeVmView as VmInfo } from '../api/native/wire';

/** `READY` as kubectl shows it: ready app containers / app containers. */
function readyOf(p: Pod): string {
  const apps = p.containers.filter((c) => !c.init);
  return `${apps.filter((c) => c.ready).length}/${apps.length}`;
}

/** `RESTARTS`: the restarts of the pod's containers, summed. */
function restartsOf(p: Pod): number {
  return p.containers.reduce((n, c) => n + (c.restartCount ?? 0), 0);
}

/** The pods table. */
export function podsTable(pods: Pod[], now = Date.now()): string {
  return table(
    ['POD ID', 'NAME', 'STATE', 'VM', 'READY', 'RESTARTS', 'CONTAINERS', 'CREATED'],
    pods.map((p) => [
      shortId(p.id),
      p.name,
      p.state,
      p.vm ?? '',
      readyOf(p),
      String(restartsOf(p)),
      String(p.containers.length),
      ago(p.created, now),
    ]),
  );
}

/** The containers table: every container of every pod. */
export function containersTable(pods: Pod[]): string {
  const rows: string[][] = [];
  for (const p of pods) {
    for (const c of p.containers) {
      const status = c.status === 'exited' ? `exited (${c.exitCode})` : c.status;
      rows.push([
        shortId(c.id),
        p.name,
        c.image,
        `"${commandText(c.command)}"`,
        status,
        c.ready ? 'true' : 'false',
        String(c.restartCount ?? 0),
      ]);
    }
  }
  return table(['CONTAINER ID', 'POD', 'IMAGE', 'COMMAND', 'STATUS', 'READY', 'RESTARTS'], rows);
}

/** The VMs table. */
export function vmsTable(vms: VmInfo[], pods: Pod[]): string {
  const names = new Map(pods.map((p) => [p.id, p.name]));
  return table(
    ['VM ID', 'STATE', 'POD', 'MEMORY', 'CPUS'],
    vms.map((v) => [
      v.id,
      v.state,
      v.podId ? (names.get(v.podId) ?? shortId(v.podId)) : '',
      `${v.memoryMiB} MiB`,
      String(v.cpus),
    ]),
  );
}
