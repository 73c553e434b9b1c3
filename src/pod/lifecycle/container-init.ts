/**
 * Phases 4 and 5 of a pod's start (./runtime.ts) for one container, and what else runs a
 * container's processes in its guest: the seccomp filter sent behind CREATE_CONTAINER, the
 * /etc work the host left to the agent, the user resolved from the container's own account
 * files, Docker's runtime environment, and the init started (again, for a restart in place).
 */
import { DOCKER_INIT_PATH, POD_PAUSE_PATH, type AgentProcess, type Vm, type Agent } from '../../vm/types';
import type { PodContainerSpec, PodSpec } from '../types';
import { startedWithTerminal } from '../io/terminal-size';
import { resolveUser, withGroupAdd, type ResolvedUser } from '../security/user';
import { NotFoundError } from '../../errors';
import { FALLBACK, type readEtcFile } from '../mounts/etc-files';
import { logger } from '../../util/log';
import { mergeEnv } from '../../util/env';
import { mountInGuest } from '../mounts/mounts';
import { processSecurity } from '../security/security';
import { seccompFilterFor } from '../security/seccomp';

const log = logger('pod');

/** PATH a container gets when its image sets none (Docker's default). */
export const DEFAULT_PATH = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
/** Largest /etc/passwd or /etc/group read from a guest. */
export const MAX_ACCOUNT_FILE = 1024 * 1024;

/** The agent process id of a container's init. */
export function initProcessId(containerId: string): string {
  return `init-${containerId.slice(0, 12)}`;
}

/** Read a small file from the guest; undefined when it does not exist. */
async function readGuestFile(agent: Agent, containerId: string, p: string): Promise<string | undefined> {
  try {
    return (await agent.readFile(containerId, p, MAX_ACCOUNT_FILE)).toString('utf8');
  } catch (e) {
    if (e instanceof NotFoundError) return undefined;
    throw e;
  }
}

/** A running container's /etc/passwd and /etc/group (undefined where missing). */
export async function readAccountFiles(
  agent: Agent,
  containerId: string,
): Promise<{ passwd?: string; group?: string }> {
  const [passwd, group] = await Promise.all([
    readGuestFile(agent, containerId, '/etc/passwd'),
    readGuestFile(agent, containerId, '/etc/group'),
  ]);
  return { passwd, group };
}

/** Resolve a user spec inside a running container. */
export async function resolveUserInGuest(
  agent: Agent,
  containerId: string,
  user: string,
  groupAdd?: readonly string[],
): Promise<ResolvedUser> {
  const { passwd, group } = await readAccountFiles(agent, containerId);
  return withGroupAdd(resolveUser(user, passwd, group), groupAdd, group);
}

/**
 * Docker's runtime environment (dockerd's CreateDaemonEnvironment): PATH (default), HOSTNAME
 * and TERM (with a TTY) first, then the config's env replacing those by key or appended, and
 * HOME from the user's passwd entry when still unset.
 */
export function runtimeEnv(
  env: string[],
  hostname: string,
  tty: boolean,
  home: string,
  linkEnv: readonly string[] = [],
): string[] {
  const base = [DEFAULT_PATH, `HOSTNAME=${hostname}`, ...(tty ? ['TERM=xterm'] : []), ...linkEnv];
  const out = mergeEnv(base, env);
  if (!out.some((e) => e.startsWith('HOME='))) out.push(`HOME=${home}`);
  return out;
}

/**
 * A container's CREATE_CONTAINER (`created`, already sent) followed by its seccomp filter, when
 * it has one (../security/seccomp.ts): sent right behind, without waiting (the agent serves requests in
 * order), so the init that may be pipelined after it starts filtered; settles when both have.
 * A guest agent too old for seccomp (a VM of an older podvisor) runs the default profile's
 * container without a filter, as dockerd does on a kernel without seccomp; a profile of the
 * user's is refused there.
 */
export function withSeccomp(vm: Vm, c: PodContainerSpec, created: Promise<void>): Promise<void> {
  const filter = seccompFilterFor(c);
  if (!filter) return created;
  const filtered = vm.agent.setSeccomp(c.id, filter, { ifSupported: c.seccomp?.profile === 'default' });
  return Promise.allSettled([created, filtered]).then(([a, b]) => {
    if (a.status === 'rejected') throw a.reason;
    if (b.status === 'rejected') throw b.reason;
    if (!b.value)
      log.warn(`container ${c.id}: the VM's guest agent predates seccomp; it runs without the default profile`);
  });
}

/** What the host found out about a container's /etc before the guest looked (phase 3). */
export interface PreparedFiles {
  /** Hosts files the host could not write (symlinks and such): the agent writes them. */
  guestFiles: Array<[string, string]>;
  passwd: Awaited<ReturnType<typeof readEtcFile>>;
  group: Awaited<ReturnType<typeof readEtcFile>>;
  /** Variables of legacy links, before the container's own. */
  linkEnv: string[];
}

/**
 * Whatever the host could not do of a created container's /etc, the agent does (pipelined:
 * independent requests): the hosts files written, /etc/passwd and group read; returns those two.
 */
async function guestEtcFiles(
  vm: Vm,
  c: PodContainerSpec,
  files: Pick<PreparedFiles, 'guestFiles' | 'passwd' | 'group'>,
): Promise<[string | undefined, string | undefined]> {
  const [p, g] = await Promise.all([
    files.passwd === FALLBACK ? readGuestFile(vm.agent, c.id, '/etc/passwd') : files.passwd,
    files.group === FALLBACK ? readGuestFile(vm.agent, c.id, '/etc/group') : files.group,
    ...files.guestFiles.map(([name, content]) => vm.agent.writeFile(c.id, `/etc/${name}`, Buffer.from(content), 0o644)),
  ]);
  return [p as string | undefined, g as string | undefined];
}

/**
 * Phases 4 and 5 for one container whose CREATE_CONTAINER is `created` (already sent). When the
 * host resolved everything, the init is sent at once (pipelined); a failed create then fails
 * the start too, and the create's error is the one reported.
 */
export async function startContainer(
  vm: Vm,
  spec: PodSpec,
  c: PodContainerSpec,
  files: PreparedFiles,
  created: Promise<void>,
): Promise<AgentProcess> {
  if (c.podPause) return startPause(vm, spec, c, created);
  const { linkEnv } = files;
  let { guestFiles, passwd, group } = files;
  if (c.mounts?.length) {
    // The mounts must be in place before the init runs: no pipelining past them.
    await created;
    // What the host left to the agent is done in the root filesystem first, where the host
    // does it (a volume over /etc must neither get the hosts files nor give the accounts).
    if (guestFiles.length || passwd === FALLBACK || group === FALLBACK) {
      [passwd, group] = await guestEtcFiles(vm, c, files);
      guestFiles = [];
    }
    await mountInGuest(vm, c);
  }
  if (guestFiles.length === 0 && passwd !== FALLBACK && group !== FALLBACK) {
    const init = startInit(vm, spec, c, withGroupAdd(resolveUser(c.user, passwd, group), c.groupAdd, group), linkEnv);
    const [cr, ir] = await Promise.allSettled([created, init]);
    if (cr.status === 'rejected') throw cr.reason;
    if (ir.status === 'rejected') throw ir.reason;
    return ir.value;
  }
  await created;
  const [p, g] = await guestEtcFiles(vm, c, { guestFiles, passwd, group });
  return startInit(
    vm,
    spec,
    c,
    withGroupAdd(
      resolveUser(c.user, p as string | undefined, g as string | undefined),
      c.groupAdd,
      g as string | undefined,
    ),
    linkEnv,
  );
}

/**
 * The pod's pause as container `c`'s init (PodContainerSpec.podPause), sent right behind its
 * CREATE_CONTAINER: the agent's own binary, as root, with no terminal or stdin and the
 * container's security settings (its sysctls are written before it runs).
 */
async function startPause(vm: Vm, spec: PodSpec, c: PodContainerSpec, created: Promise<void>): Promise<AgentProcess> {
  const init = vm.agent.startProcess({
    containerId: c.id,
    processId: initProcessId(c.id),
    args: [POD_PAUSE_PATH],
    env: [DEFAULT_PATH, `HOSTNAME=${spec.hostname}`],
    cwd: '/',
    user: { uid: 0, gid: 0, additionalGids: [] },
    terminal: false,
    stdin: false,
    ...processSecurity(c.security),
  });
  const [cr, ir] = await Promise.allSettled([created, init]);
  if (cr.status === 'rejected') throw cr.reason;
  if (ir.status === 'rejected') throw ir.reason;
  return ir.value;
}

/**
 * Start container `c`'s init again in its container, which is still on the VM (its mounts and
 * rootfs in place) but whose init has exited: a restart in place of one container of a pod.
 */
export async function restartInit(
  vm: Vm,
  spec: PodSpec,
  c: PodContainerSpec,
  linkEnv: string[] = [],
): Promise<AgentProcess> {
  return startInit(vm, spec, c, await resolveUserInGuest(vm.agent, c.id, c.user, c.groupAdd), linkEnv);
}

async function startInit(
  vm: Vm,
  spec: PodSpec,
  c: PodContainerSpec,
  user: ResolvedUser,
  linkEnv: string[],
): Promise<AgentProcess> {
  const rows = c.consoleSize?.[0] || 24;
  const cols = c.consoleSize?.[1] || 80;
  const p = await vm.agent.startProcess({
    containerId: c.id,
    processId: initProcessId(c.id),
    // docker --init: the agent's init (bound there at create) runs the command as its child.
    args: c.dockerInit ? [DOCKER_INIT_PATH, '--', ...c.args] : c.args,
    env: runtimeEnv(c.env, spec.hostname, c.tty, user.home, linkEnv),
    cwd: c.workingDir || '/',
    user: { uid: user.uid, gid: user.gid, additionalGids: user.additionalGids },
    terminal: c.tty,
    stdin: c.openStdin,
    // The client's terminal size from create, so that the first prompt already has it (the
    // client's resize comes only after start returns, and typed input can overtake it).
    ...(c.tty ? { rows, cols } : {}),
    ...processSecurity(c.security),
  });
  if (c.tty) startedWithTerminal(p, rows, cols);
  return p;
}
