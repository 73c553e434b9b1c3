/** Undoing a clone that failed part way (./clone.ts): what it made removed, the error to throw. */
import * as fs from 'node:fs';
import { UnavailableError } from '../../../errors';
import { killSpawned } from '../confinement/jailed-process';
import { bootFailureDetail, cleanupDir } from '../start-steps';
import type { StartHost } from '../start-host';
import type { CloneLayout, CloneProgress } from './clone-layout';

/**
 * Undo what a failed clone made (its QEMU, state file, agent connection, runtime directory;
 * `badSource` is told when the state did not load: a template is then rebuilt) and give the
 * error to throw; `what` says what the VM could not be ("cloned from template K").
 */
export async function undoFailedClone(
  h: StartHost,
  what: string,
  layout: CloneLayout,
  made: CloneProgress,
  err: unknown,
  badSource?: () => void,
): Promise<UnavailableError> {
  const { id, paths } = layout;
  if (made.qemu) h.starting.delete(made.qemu);
  if (made.stateFd !== undefined) fs.closeSync(made.stateFd);
  made.agentPromise?.then(
    (a) => a.close(),
    () => undefined,
  );
  if (made.qemu?.pid) await killSpawned(made.qemu);
  const detail = bootFailureDetail(paths);
  await cleanupDir(paths);
  h.own.delete(id);
  // A state that does not load is a bad template: the next clone builds a new one.
  if (!made.restored) badSource?.();
  return new UnavailableError(`VM ${id} could not be ${what}: ${(err as Error).message}${detail}`);
}
