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
