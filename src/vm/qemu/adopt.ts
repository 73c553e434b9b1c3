/**
 * Re-adopting a VM an earlier daemon left running (its vm.json, its processes, the agent's
 * handshake on a fresh connection), or cleaning up what it left when it cannot be adopted.
 */
import * as fs from 'node:fs';
import type { Agent, Vm } from '../types';
import { logger } from '../../util/log';
import { isValidVmId, layoutOf, vmPaths, vmPathsAt } from './runtime-dir';
import { readVmRecord } from './vm-record';
import { isOurProcess, signalProcess, waitGone } from './processes/processes';
import { QemuVm } from './qemu-vm';
import { adoptedProcessEnd, type ProcessEnd } from './qemu-vm-init';
import { QEMU_NAME, scanVmProcesses, VIRTIOFSD_NAME } from './processes/vm-processes';
import { cleanupDir } from './start-steps';
import { jailSupervisorOf } from './confinement/jailed-process';
import { qmpCommand } from './qmp';
import type { StartHost } from './start-host';

const log = logger('vm');

/**
 * Re-adopt VM `id` left by an earlier daemon, or clean up what it left: every process whose
 * argv names its runtime directory (vm-processes.ts; found whether or not vm.json was
 * written), its mounts and its directory.
 */
export async function adoptVm(h: StartHost, id: string): Promise<Vm | undefined> {
  if (!isValidVmId(id) || h.own.has(id)) return undefined;
  // A VM an earlier build started has the flat layout (runtime-dir.ts): its record is then
  // one its QEMU could have written, which readVmRecord checks field by field.
  const dir = vmPaths(h.opts.execRoot, id).dir;
  const paths = vmPathsAt(dir, layoutOf(dir));
  const procs = scanVmProcesses(h.opts.execRoot).filter((p) => p.vmId === id);
  if (!fs.existsSync(paths.dir) && procs.length === 0) return undefined;
  const rec = readVmRecord(paths);
  const qemuPid = rec && isOurProcess(rec.qemuPid, QEMU_NAME, paths.dir) ? rec.qemuPid : undefined;
  const vfsPid =
    rec?.virtiofsdPid && isOurProcess(rec.virtiofsdPid, VIRTIOFSD_NAME, paths.dir) ? rec.virtiofsdPid : undefined;
  const volPid =
    rec?.volumesVirtiofsdPid && isOurProcess(rec.volumesVirtiofsdPid, VIRTIOFSD_NAME, paths.dir)
      ? rec.volumesVirtiofsdPid
      : undefined;
  const discard = async (why: string) => {
    const pids = procs.map((p) => p.pid);
    log.info(
      `VM ${id} is not adoptable (${why}); cleaning up${pids.length ? ` (killing pids ${pids.join(', ')})` : ''}`,
    );
    for (const pid of pids) signalProcess(pid, 'SIGKILL');
    for (const pid of pids) await waitGone(pid, 5000);
    await cleanupDir(paths);
    return undefined;
  };
  // A jail's supervisor belongs with the process it supervises (its child, in vm.json).
  const recorded = [qemuPid, vfsPid, volPid].filter((p): p is number => p !== undefined);
  const supervisors = recorded.map((p) => jailSupervisorOf(p, paths.dir)).filter((p) => p !== undefined);
  if (procs.some((p) => !recorded.includes(p.pid) && !(p.supervisor && supervisors.includes(p.pid))))
    return discard('a process of it is not in vm.json');
  if (!rec || rec.id !== id) return discard('no valid vm.json');
  // A clone (9p) has no virtiofsd: QEMU serves its files.
  if (!qemuPid || (rec.transport !== '9p' && !vfsPid) || (rec.volumesVirtiofsdPid && !volPid))
    return discard('its QEMU or a virtiofsd is gone');
  let agent: Agent | undefined;
  const adoptStart = Date.now();
  try {
    const status = (await qmpCommand(paths.qmpSock, 'query-status')) as { status?: string };
    // A clone whose daemon died before it loaded its saved state: no guest runs, so no agent
    // would ever answer (waiting would cost the whole adoption budget).
    if (status?.status === 'inmigrate') return discard('its saved state was never loaded');
    // A guest stopped by `docker pause`, or by a save the earlier daemon did not finish (its
    // VM stopped, its state written or half written: 'postmigrate' once whole), cannot
    // answer the handshake: it runs again, and the pod layer freezes a paused pod again once
    // it has taken its processes over (src/pod/lifecycle/restore.ts).
    await cancelUnfinishedSave(paths.qmpSock);
    if (status?.status && STOPPED_STATES.has(status.status)) await qmpCommand(paths.qmpSock, 'cont');
    agent = await connectForAdoption(h, paths);
  } catch (err) {
    agent?.close();
    return discard((err as Error).message);
  }
  log.info(`adopted VM ${id} (qemu pid ${qemuPid}) in ${Date.now() - adoptStart} ms`);
  const vfsPids = [vfsPid, volPid].filter((p): p is number => p !== undefined);
  return h.owned(
    new QemuVm({
      id,
      size: rec.size,
      devices: rec.devices ?? { nics: [] },
      paths,
      qemuPid,
      virtiofsdPids: vfsPids,
      agent,
      processEnd: adoptedProcessEnd(qemuPid),
      virtiofsdEnd: vfsPids.length
        ? Promise.race(vfsPids.map(adoptedProcessEnd))
        : new Promise<ProcessEnd>(() => undefined),
      ...(rec.transport === '9p' ? { clone: true } : {}),
    }),
  );
}

/** QMP run states of a guest stopped by the host, which `cont` runs again. */
const STOPPED_STATES = new Set(['paused', 'postmigrate', 'finish-migrate']);

/** QMP migration states of a save still under way. */
const SAVING_STATES = new Set(['setup', 'active', 'pre-switchover', 'device', 'wait-unplug', 'cancelling']);

/**
 * Cancel the save an earlier daemon left under way (its stream's reader died with it), and
 * wait up to 5 s for it to end: QEMU refuses `cont` while a migration runs.
 */
async function cancelUnfinishedSave(qmpSock: string): Promise<void> {
  const stateOf = async () =>
    ((await qmpCommand(qmpSock, 'query-migrate')) as { status?: string } | undefined)?.status ?? 'none';
  if (!SAVING_STATES.has(await stateOf())) return;
  await qmpCommand(qmpSock, 'migrate_cancel');
  for (let i = 0; i < 100 && SAVING_STATES.has(await stateOf()); i++) await new Promise((r) => setTimeout(r, 50));
}

/**
 * The agent handshake of an adoption, on a fresh connection per attempt: now and then the
 * agent of a VM whose previous host died mid-session does not answer the first SYNC (seen
 * about one adoption in four under TCG), while a new connection is answered at once (~100 ms).
 * Giving up kills a live VM, so the budget (adoptTimeoutMs) is split over three attempts.
 */
async function connectForAdoption(h: StartHost, paths: ReturnType<typeof vmPaths>): Promise<Agent> {
  const attempts = 3;
  let lastErr: unknown;
  for (let i = 1; i <= attempts; i++) {
    try {
      return await h.opts.connectAgent({
        ctlPath: paths.ctlSock,
        ioPath: paths.ioSock,
        timeoutMs: Math.ceil(h.adoptTimeoutMs / attempts),
      });
    } catch (err) {
      lastErr = err;
      log.warn(`adoption handshake attempt ${i}/${attempts} failed: ${(err as Error).message}`);
    }
  }
  throw lastErr;
}
