/**
 * The first option of a Docker create that a saved state's processes cannot take (a
 * checkpoint image's or a warm start's: src/engine/saved-state-plan.ts), worded as the CLI's
 * flag: another VM to join, binds or other volumes, --volumes-from, --tmpfs, devices, a
 * terminal, another command or entrypoint, environment, user or working directory, less
 * memory than the saved VM holds.
 */
import { namedVolumesAsSaved } from '../../../engine/service';
import type { SavedContainerState } from '../../../pod/service';
import type { CreateRequest } from '../docker/create-body';
import type { Translated } from '../../../translate/translation';

/** Whether lists `a` and `b` are equal. */
function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** See the module comment: undefined when the saved state can take every option of `request` (`t` translated). */
export function refusedBySavedState(
  request: CreateRequest,
  t: Translated,
  saved: SavedContainerState,
): string | undefined {
  const hc = request.hostConfig;
  const c = request.config;
  const main = t.spec.containers[0];
  if (t.spec.joinPod || /^container:/.test(hc.NetworkMode ?? '')) return '--network container:';
  const asSaved = namedVolumesAsSaved(main.mounts ?? [], saved.mounts);
  if (hc.Binds?.length && !asSaved) return '-v (a bind or volume)';
  if (hc.Mounts?.length && !asSaved) return '--mount';
  if (hc.VolumesFrom?.length) return '--volumes-from';
  if (hc.Tmpfs && Object.keys(hc.Tmpfs).length) return '--tmpfs';
  if (hc.Devices?.length) return '--device';
  if (c.Tty) return '-t';
  if (!sameList(main.args, saved.args)) return request.entrypointSet ? '--entrypoint' : 'a command';
  const env = new Set(saved.env);
  const extra = (c.Env ?? []).find((e) => !env.has(e));
  if (extra !== undefined) return `-e ${extra.replace(/=.*/s, '')}`;
  if (c.User && c.User !== saved.user) return '--user';
  if (c.WorkingDir && c.WorkingDir !== saved.workingDir) return '--workdir';
  if (hc.Memory > 0 && hc.Memory < saved.vm.memoryMiB * 1024 * 1024)
    return `-m (the saved VM holds ${saved.vm.memoryMiB} MiB)`;
  return undefined;
}
