/**
 * The processes of a running container (docker top): the guest's agent reads them from /proc
 * (PROCESS_TABLE: the container's cgroup), with the container's user and group names; a front
 * renders them (the Docker front in ps's columns: src/api/v1.41/top). PIDs are the VM's (as
 * inspect's State.Pid).
 *
 * A VM started by an older podvisor has an agent without PROCESS_TABLE: there `ps <psArgs>`
 * runs in the container as before (the image needs a ps), until the container restarts, and
 * its output is what is listed.
 */
import { NotImplementedError } from '../../errors';
import type { GuestProcessTable } from '../../vm/types';
import type { PodContext } from '../context';
import { ContainerNotRunningError, NoSuchContainerInPodError, PodNotRunningError, PodPausedError } from '../errors';
import { capturedExecConfig } from '../io/exec';
import { execStart } from '../io/exec-run';
import { AttachSession } from '../io/io';
import type { Entry } from '../records/registry';
import { readAccountFiles } from '../lifecycle/container-init';
import { findContainer, isPaused, mainContainer } from '../types';
import { parseGroup, parsePasswd } from '../security/user';

/** A container's processes, as its guest lists them. */
export type ContainerProcesses =
  | {
      /** The guest's process records. */
      table: GuestProcessTable;
      /** uid -> user name, gid -> group name (the container's /etc/passwd and /etc/group). */
      users: Map<number, string>;
      groups: Map<number, string>;
    }
  | {
      /** An older agent's answer: what `ps` (the command `psCommand`) printed in the container. */
      psOutput: string;
      psCommand: string;
      exitCode: number;
      /** The first line ps wrote to stderr. */
      psError: string;
    };

/**
 * The processes of a container of the pod: `containerId`, or the main one. `psArgs`: what an
 * older agent's `ps` is run with (checked by the caller first).
 */
export async function processes(
  ctx: PodContext,
  e: Entry,
  psArgs: string,
  containerId?: string,
): Promise<ContainerProcesses> {
  if (!e.run) throw new PodNotRunningError(e.record.id);
  if (isPaused(e.record)) throw new PodPausedError(e.record.id, 'top');
  const c = containerId === undefined ? mainContainer(e.record) : findContainer(e.record, containerId);
  if (!c) throw new NoSuchContainerInPodError(e.record.id, containerId as string);
  if (containerId !== undefined && (c.state.status !== 'running' || !e.run.inits.has(c.spec.id))) {
    throw new ContainerNotRunningError(e.record.id, c.spec.id);
  }
  const agent = e.run.vm.agent;
  let table;
  try {
    table = await agent.processTable(c.spec.id);
  } catch (err) {
    if (!(err instanceof NotImplementedError)) throw err;
    const listed = await psInContainer(ctx, e, c.spec.id, psArgs || '-ef');
    ctx.emitFor(e.record, c, 'top');
    return listed;
  }
  const accounts = await readAccountFiles(agent, c.spec.id).catch(() => ({ passwd: undefined, group: undefined }));
  const users = new Map<number, string>();
  for (const u of parsePasswd(accounts.passwd ?? '')) if (!users.has(u.uid)) users.set(u.uid, u.name);
  const groups = new Map<number, string>();
  for (const g of parseGroup(accounts.group ?? '')) if (!groups.has(g.gid)) groups.set(g.gid, g.name);
  ctx.emitFor(e.record, c, 'top');
  return { table, users, groups };
}

/** An older guest's way: `ps <psArgs>` run in the container, its table parsed. */
async function psInContainer(
  ctx: PodContext,
  e: Entry,
  containerId: string,
  psArgs: string,
): Promise<ContainerProcesses> {
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
  const err = Buffer.concat(errOut).toString().trim().split('\n')[0];
  return {
    psOutput: Buffer.concat(out).toString('utf8'),
    psCommand: args.join(' '),
    exitCode: x.exitCode ?? -1,
    psError: err,
  };
}
