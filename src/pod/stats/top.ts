/**
 * The processes of a running container (docker top): the guest's agent reads them from /proc
 * (PROCESS_TABLE: the container's cgroup), and ps-format.ts renders the columns `ps_args`
 * asks for, so the image needs no `ps`. PIDs are the VM's (as inspect's State.Pid).
 *
 * A VM started by an older podvisor has an agent without PROCESS_TABLE: there `ps <ps_args>`
 * runs in the container as before (the image needs a ps), until the container restarts.
 */
import { NotImplementedError } from '../../errors';
import type { PodContext } from '../context';
import { ContainerNotRunningError, NoSuchContainerInPodError, PodNotRunningError, PodPausedError } from '../errors';
import { capturedExecConfig } from '../io/exec';
import { execStart } from '../io/exec-run';
import { AttachSession } from '../io/io';
import { parsePsArgs, PsError, renderTable, type ProcessTable } from './ps-format';
import type { Entry } from '../records/registry';
import { readAccountFiles } from '../lifecycle/container-init';
import { findContainer, isPaused, mainContainer } from '../types';
import { parseGroup, parsePasswd } from '../security/user';

export type { ProcessTable } from './ps-format';

/**
 * The table of `ps <psArgs>` for a container of the pod: `containerId`, or the main one.
 * Bad ps_args are refused before the guest is asked.
 */
export async function top(ctx: PodContext, e: Entry, psArgs: string, containerId?: string): Promise<ProcessTable> {
  if (!e.run) throw new PodNotRunningError(e.record.id);
  if (isPaused(e.record)) throw new PodPausedError(e.record.id, 'top');
  const c = containerId === undefined ? mainContainer(e.record) : findContainer(e.record, containerId);
  if (!c) throw new NoSuchContainerInPodError(e.record.id, containerId as string);
  if (containerId !== undefined && (c.state.status !== 'running' || !e.run.inits.has(c.spec.id))) {
    throw new ContainerNotRunningError(e.record.id, c.spec.id);
  }
  const agent = e.run.vm.agent;
  const columns = parsePsArgs(psArgs);
  let guest;
  try {
    guest = await agent.processTable(c.spec.id);
  } catch (err) {
    if (!(err instanceof NotImplementedError)) throw err;
    const table = await psInContainer(ctx, e, c.spec.id, psArgs || '-ef');
    ctx.emitFor(e.record, c, 'top');
    return table;
  }
  const accounts = await readAccountFiles(agent, c.spec.id).catch(() => ({ passwd: undefined, group: undefined }));
  const users = new Map<number, string>();
  for (const u of parsePasswd(accounts.passwd ?? '')) if (!users.has(u.uid)) users.set(u.uid, u.name);
  const groups = new Map<number, string>();
  for (const g of parseGroup(accounts.group ?? '')) if (!groups.has(g.gid)) groups.set(g.gid, g.name);
  const table = renderTable(columns, guest, { now: Date.now(), users, groups });
  ctx.emitFor(e.record, c, 'top');
  return table;
}

/** An older guest's way: `ps <psArgs>` run in the container, its table parsed. */
async function psInContainer(ctx: PodContext, e: Entry, containerId: string, psArgs: string): Promise<ProcessTable> {
  const args = ['ps', ...psArgs.split(/\s+/).filter(Boolean)];
  // As root in /, whatever the container's user and working directory (dockerd runs ps on the host).
  const x = ctx.execs.create(e.record.id, { ...capturedExecConfig(args, containerId), workingDir: '/', user: '0' });
  const out: Buffer[] = [];
  const errOut: Buffer[] = [];
  const session = new AttachSession({
    stdin: null,
    stdout: true,
    stderr: true,
    detachKeys: Buffer.alloc(0),
    sink: {
      write: (s, d) => {
        (s === 'stdout' ? out : errOut).push(d);
        return true;
      },
      drain: async () => {},
      end: () => {},
    },
  });
  try {
    const started = await execStart(ctx, x.id, session);
    await started.finished;
  } finally {
    ctx.execs.delete(x.id);
  }
  if (x.exitCode !== 0) {
    throw new PsError(`ps: ${Buffer.concat(errOut).toString().trim().split('\n')[0] || `exit status ${x.exitCode}`}`);
  }
  return parsePs(Buffer.concat(out).toString('utf8'), args.join(' '));
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
