/**
 * Docker's LogConfig (a create body's `HostConfig.LogConfig`): the driver and its options in
 * Docker's words, merged with the daemon's defaults and checked by the neutral policy
 * (src/translate/request/policy/log-config.ts); and `docker logs`' 501 for a driver that keeps
 * nothing to read.
 */
import { NotImplementedError } from '../../../errors';
import type { PodLogConfig } from '../../../pod/types';
import { resolveLogConfig } from '../../../translate/request/policy/log-config';

/** Docker's LogConfig: a driver name and its options. */
export interface LogConfig {
  Type: string;
  Config: Record<string, string>;
}

/**
 * A container's LogConfig as dockerd stores it (mergeAndVerifyLogConfig), from the daemon's
 * default driver and options (see resolveLogConfig). Throws InvalidArgumentError (400) or
 * NotImplementedError (501).
 */
export function verifyLogConfig(lc: LogConfig, daemonDefault: PodLogConfig): LogConfig {
  const resolved = resolveLogConfig({ driver: lc.Type, opts: lc.Config }, daemonDefault);
  return { Type: resolved.driver, Config: resolved.opts };
}

/** `docker logs` of a pod whose driver keeps nothing: dockerd's 501. */
export function assertLogsReadable(c: PodLogConfig | undefined): void {
  if (c?.driver === 'none') throw new NotImplementedError('configured logging driver does not support reading');
}
