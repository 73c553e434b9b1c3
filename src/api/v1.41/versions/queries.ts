/**
 * Query parameters that a version brought in and podvisor does not honour yet: refused with a
 * 400 that names them, from the version that reads them (below it dockerd ignores them, and so
 * does podvisor).
 */
import { InvalidArgumentError } from '../../../errors';
import { atLeast, V } from '.';

/** `signal` of stop and restart (API 1.42): the container's own stop signal is the only one sent. */
export function refuseStopSignal(signal: string, v: string): void {
  if (signal && atLeast(v, V.STOP_SIGNAL_AND_DF_TYPE))
    throw new InvalidArgumentError(
      `the signal query parameter of stop and restart is not supported by podvisor yet: ` +
        `the container's stop signal is sent (set it at create with --stop-signal)`,
    );
}

const GO_BOOLS: Record<string, boolean> = {
  '1': true,
  t: true,
  T: true,
  true: true,
  TRUE: true,
  True: true,
  '0': false,
  f: false,
  F: false,
  false: false,
  FALSE: false,
  False: false,
};

/**
 * Whether a volume prune takes named volumes too: always below 1.42 (where an `all` filter is
 * unknown, as in dockerd 20.10); from 1.42 only with the `all` filter true (strconv.ParseBool),
 * anonymous volumes alone otherwise.
 */
export function pruneAllVolumes(filters: Record<string, string[] | undefined>, v: string): boolean {
  const all = filters.all;
  if (!atLeast(v, V.STOP_SIGNAL_AND_DF_TYPE)) {
    if (all !== undefined) throw new InvalidArgumentError("Invalid filter 'all'");
    return true;
  }
  if (!all?.length) return false;
  if (all.length > 1)
    throw new InvalidArgumentError(`invalid filter 'all=[${all.join(' ')}]': only one value is expected`);
  const b = GO_BOOLS[all[0]];
  if (b === undefined)
    throw new InvalidArgumentError(
      `invalid filter 'all': strconv.ParseBool: parsing ${JSON.stringify(all[0])}: invalid syntax`,
    );
  return b;
}
