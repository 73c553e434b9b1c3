/**
 * `docker top`'s answer: a running container's processes (the pod layer's listing,
 * src/pod/stats/top.ts) as the table `ps <ps_args>` prints, rendered here in procps' columns
 * (./ps-format.ts) so that the image needs no `ps`; from a VM whose agent predates the process
 * table, the output of the `ps` that ran in the container, cut into rows as dockerd cuts its
 * host's ps output.
 */
import type { ContainerProcesses, PodService } from '../../../pod/service';
import { parsePsArgs, PsError, renderTable, type ProcessTable } from './ps-format';

/**
 * The table of `ps <psArgs>` for container `container` (default: the main one) of pod `ref`.
 * Bad ps_args are refused (PsError, dockerd's 500) before the guest is asked.
 */
export async function topTable(
  pods: Pick<PodService, 'processes'>,
  ref: string,
  psArgs: string,
  container?: string,
): Promise<ProcessTable> {
  const columns = parsePsArgs(psArgs);
  const listed: ContainerProcesses = await pods.processes(ref, psArgs, container);
  if ('table' in listed)
    return renderTable(columns, listed.table, { now: Date.now(), users: listed.users, groups: listed.groups });
  if (listed.exitCode !== 0) throw new PsError(`ps: ${listed.psError || `exit status ${listed.exitCode}`}`);
  return parsePs(listed.psOutput, listed.psCommand);
}

/**
 * Parse `ps` output into a process table: the header's words are the titles; each row is
 * cut into as many fields, the last one taking the rest of the line (the command). Kernel
 * threads (`[kthreadd]`) and the ps process itself (`psCommand`) are left out: dockerd runs
 * ps outside the container, so neither shows in its answer.
 */
export function parsePs(text: string, psCommand: string): ProcessTable {
  const lines = text.split('\n').filter((l) => l.trim());
  if (lines.length === 0) return { titles: [], processes: [] };
  const titles = lines[0].trim().split(/\s+/);
  const processes: string[][] = [];
  for (const line of lines.slice(1)) {
    const fields = line.trim().split(/\s+/);
    const row = fields.slice(0, titles.length - 1);
    row.push(fields.slice(titles.length - 1).join(' '));
    const cmd = row[row.length - 1];
    if (/^\[.*\]$/.test(cmd)) continue;
    if (cmd === psCommand) continue;
    processes.push(row);
  }
  return { titles, processes };
}
