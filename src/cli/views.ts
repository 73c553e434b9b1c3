/**
 * The tables of `podvisor list`: pods, containers, VMs.
 */
import { ago, commandText, shortId, table } from './output';
import type { Pod, VmInfo } from './types';

/** The pods table. */
export function podsTable(pods: Pod[], now = Date.now()): string {
  return table(
    ['POD ID', 'NAME', 'STATE', 'VM', 'CONTAINERS', 'CREATED'],
    pods.map((p) => [shortId(p.id), p.name, p.state, p.vm ?? '', String(p.containers.length), ago(p.created, now)]),
  );
}

/** The containers table: every container of every pod. */
export function containersTable(pods: Pod[]): string {
  const rows: string[][] = [];
  for (const p of pods) {
    for (const c of p.containers) {
      const status = c.status === 'exited' ? `exited (${c.exitCode})` : c.status;
      rows.push([shortId(c.id), p.name, c.image, `"${commandText(c.command)}"`, status]);
    }
  }
  return table(['CONTAINER ID', 'POD', 'IMAGE', 'COMMAND', 'STATUS'], rows);
}

/** The VMs table. */
export function vmsTable(vms: VmInfo[], pods: Pod[]): string {
  const names = new Map(pods.map((p) => [p.id, p.name]));
  return table(
    ['VM ID', 'STATE', 'POD', 'MEMORY', 'CPUS'],
    vms.map((v) => [v.id, v.state, v.podId ? names.get(v.podId) ?? shortId(v.podId) : '', `${v.memoryMiB} MiB`, String(v.cpus)]),
  );
}
