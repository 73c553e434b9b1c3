/**
 * Running extra processes in a running pod (exec): create an instance, start it with or
 * without a client session, resize its terminal. The instances themselves are kept by the
 * exec store (./exec.ts).
 */
import { processSecurity } from '../security/security';
import type { AgentProcess } from '../../vm/types';
import { ConflictError, NotFoundError } from '../../errors';
import { PodNotRunningError, PodPausedError } from '../errors';
import { OUTPUT_DRAIN_MS, atMost } from '../async';
import type { PodContext } from '../context';
import type { ExecConfig, ExecRecord } from './exec';
import { AttachSession, ProcessIo } from './io';
import type { Entry } from '../records/registry';
import { mergeEnv } from '../../util/env';
import { resolveUserInGuest, runtimeEnv } from '../lifecycle/container-init';
import { execStartFailure } from '../lifecycle/start-error';
import { resizeTerminal, startedWithTerminal } from './terminal-size';
import { findContainer, isPaused, mainContainer, restartsInPlace, type ContainerRecord } from '../types';
import { ContainerNotRunningError, NoSuchContainerInPodError } from '../errors';

/** The conflict of an exec in a paused pod. */
function paused(id: string): ConflictError {
  return new PodPausedError(id, 'exec');
}

/** Create an exec instance in a running pod's main container. */
export function execCreate(ctx: PodContext, e: Entry, config: ExecConfig): ExecRecord {
  if (!e.run) throw new PodNotRunningError(e.record.id);
  if (isPaused(e.record)) throw paused(e.record.id);
  const target = targetOf(e, config);
  const x = ctx.execs.create(e.record.id, config);
  ctx.emitFor(e.record, target, `exec_create: ${config.args.join(' ')}`, { execID: x.id });
  return x;
}

/** The container an exec runs in: the one its config names (running), else the main one. */
function targetOf(e: Entry, config: ExecConfig): ContainerRecord {
  const c = config.container === undefined ? mainContainer(e.record) : findContainer(e.record, config.container);
  if (!c) throw new NoSuchContainerInPodError(e.record.id, config.container as string);
  // A pod of one: its main container runs while the pod does (as ever).
  if (config.container === undefined && !restartsInPlace(e.record)) return c;
  if (c.state.status !== 'running' || !e.run?.inits.has(c.spec.id))
    throw new ContainerNotRunningError(e.record.id, c.spec.id);
  return c;
}

/** An exec by id; NotFoundError when there is none. */
export function execGet(ctx: PodContext, id: string): ExecRecord {
  const x = ctx.execs.get(id);
  if (!x) throw new NotFoundError(`No such exec instance: ${id}`);
  return x;
}

/**
 * Start an exec. With a session, its output goes there and its input to the process (the
 * process's stdin closes when the client's input ends). Resolves once the process started;
 * `record.finished` resolves when it has exited. When the start fails, the session is not
 * ended (the caller reports the error on it first).
 */
export async function execStart(ctx: PodContext, id: string, session?: AttachSession): Promise<ExecRecord> {
  const x = execGet(ctx, id);
  if (x.started) throw new ConflictError(`Error: Exec command ${x.id} has already run`);
  const e = ctx.registry.lookup(x.containerId);
  const run = e.run;
  if (!run) throw new PodNotRunningError(e.record.id);
  if (isPaused(e.record)) throw paused(e.record.id);
  // Execs run in the pod's main container unless the config names another one of the pod.
  const target = targetOf(e, x.config);
  const main = target.spec;
  x.started = true;
  // Every capability in the guest: the VM is not kept for another pod after this run.
  if (x.config.privileged) run.guestAltered ??= `a privileged exec ran in it (${x.config.args.join(' ')})`;
  let proc: AgentProcess;
  try {
    const user = await resolveUserInGuest(run.vm.agent, main.id, x.config.user || main.user, main.groupAdd);
    const env = runtimeEnv(
      mergeEnv(main.env, x.config.env),
      e.record.sandbox.spec.hostname,
      x.config.tty,
      user.home,
      e.record.sandbox.linkEnv,
    );
    proc = await run.vm.agent.startProcess({
      containerId: main.id,
      processId: `exec-${x.id.slice(0, 16)}`,
      args: x.config.args,
      env,
      cwd: x.config.workingDir || main.workingDir || '/',
      user: { uid: user.uid, gid: user.gid, additionalGids: user.additionalGids },
      terminal: x.config.tty,
      stdin: x.config.attachStdin && !!session,
      ...(x.config.tty ? { rows: 24, cols: 80 } : {}),
      ...processSecurity(main.security, x.config.privileged),
    });
    if (x.config.tty) startedWithTerminal(proc, 24, 80);
  } catch (err) {
    const failed = execStartFailure(err, x.config.args[0] ?? '');
    x.exitCode = failed.exitCode;
    x.markReady();
    ctx.execs.retire(x.id);
    // The session is left open: the caller reports the error on it (dockerd writes it on
    // the hijacked stream) and then ends it.
    throw failed.error;
  }
  x.proc = proc;
  x.processId = proc.processId;
  x.pid = proc.pid;
  x.running = true;
  x.markReady();
  const io = new ProcessIo(proc, { stdinOnce: true, tty: x.config.tty, endSessions: false });
  x.io = io;
  if (session) io.add(session);
  // The exec's events name the container it runs in.
  ctx.emitFor(e.record, target, `exec_start: ${x.config.args.join(' ')}`, { execID: x.id });
  x.finished = (async () => {
    let code: number;
    try {
      code = (await proc.exited).exitCode;
    } catch {
      code = 255;
    }
    await atMost(io.done, OUTPUT_DRAIN_MS);
    x.exitCode = code;
    x.running = false;
    x.proc = undefined;
    x.io = undefined;
    ctx.execs.retire(x.id);
    ctx.emitFor(e.record, target, 'exec_die', { execID: x.id, exitCode: String(code) });
    // Only now close the client's stream: the CLI inspects the exit code right after.
    io.endSessions();
    session?.finish('exited');
  })();
  return x;
}

/**
 * Resize a running exec's terminal. Like dockerd, a resize that arrives before the process
 * has started (clients resize right after the hijack) waits for the start, up to 10 s.
 */
/**
 * SIGKILL an extra process that still runs, and wait (up to 5 s) for its end: a timed-out CRI
 * ExecSync, whose process containerd kills. Nothing when it already ended.
 */
export async function execKill(ctx: PodContext, id: string): Promise<void> {
  const x = ctx.execs.get(id);
  if (!x) throw new NotFoundError('no such exec');
  if (!x.running || !x.processId) return;
  const run = ctx.registry.lookup(x.containerId).run;
  if (!run) return;
  await run.vm.agent.signalProcess(x.processId, 9).catch(() => undefined);
  await atMost(x.finished ?? Promise.resolve(), 5000);
}

export async function execResize(ctx: PodContext, id: string, rows: number, cols: number): Promise<void> {
  const x = ctx.execs.get(id);
  if (!x) throw new NotFoundError('no such exec');
  if (!x.proc && x.exitCode === null) await atMost(x.ready, 10000);
  if (!x.running || !x.proc) throw new NotFoundError('no such exec');
  const e = ctx.registry.lookup(x.containerId);
  if (!e.run) throw new PodNotRunningError(e.record.id);
  if (!x.config.tty) return;
  await resizeTerminal(e.run.vm.agent, x.proc, rows, cols);
}
