/**
 * A container's log driver and options (and daemon.json's log-driver and log-opts), checked as
 * dockerd 20.10 checks them, for every front: the daemon's default driver fills an empty one,
 * the daemon's default options fill the container's when the driver is the default one; an
 * unknown driver, an unknown option or a bad `mode` is refused (400, dockerd's words). Drivers
 * dockerd has built in but podvisor does not (local, syslog, journald...) are answered 501.
 * The option values are parsed when the pod starts (src/pod/io/log-config.ts).
 */
import { InvalidArgumentError, NotImplementedError } from '../../../errors';
import type { PodLogConfig } from '../../../pod/types';
import { ramInBytes } from '../../../util/go-units';

/** The daemon's log when it is given none: json-file without options. */
export const DEFAULT_LOG_CONFIG: PodLogConfig = { driver: 'json-file', opts: {} };

/** Drivers podvisor implements. */
const SUPPORTED = new Set(['json-file', 'none']);

/**
 * The log drivers as `docker info` lists them (Plugins.Log): the supported ones, sorted, less
 * `none`, which dockerd does not register as a driver and so never lists.
 */
export function listedLogDrivers(): string[] {
  return [...SUPPORTED].filter((d) => d !== 'none').sort();
}

/** Drivers built into dockerd 20.10 that podvisor does not implement. */
const DOCKERD_ONLY = new Set([
  'local',
  'syslog',
  'journald',
  'gelf',
  'fluentd',
  'awslogs',
  'splunk',
  'etwlogs',
  'gcplogs',
  'logentries',
]);

/** json-file's options (dockerd's daemon/logger/jsonfilelog ValidateLogOpt). */
const JSON_FILE_OPTS = new Set([
  'max-file',
  'max-size',
  'compress',
  'labels',
  'labels-regex',
  'env',
  'env-regex',
  'tag',
]);

/** Check a driver and its options (dockerd's logger.ValidateLogOpts); throws with its words. */
export function validateLogOpts(driver: string, cfg: Record<string, string>): void {
  if (driver === 'none') return;
  const mode = cfg.mode ?? '';
  if (mode !== '' && mode !== 'blocking' && mode !== 'non-blocking') {
    throw new InvalidArgumentError(`logger: logging mode not supported: ${mode}`);
  }
  if (cfg['max-buffer-size'] !== undefined) {
    if (mode !== 'non-blocking')
      throw new InvalidArgumentError("logger: max-buffer-size option is only supported with 'mode=non-blocking'");
    try {
      ramInBytes(cfg['max-buffer-size']);
    } catch (e) {
      throw new InvalidArgumentError(`error parsing option max-buffer-size: ${(e as Error).message}`);
    }
  }
  if (DOCKERD_ONLY.has(driver))
    throw new NotImplementedError(`podvisor does not support the '${driver}' log driver (only json-file and none)`);
  if (!SUPPORTED.has(driver))
    throw new InvalidArgumentError(`error looking up logging plugin ${driver}: plugin "${driver}" not found`);
  for (const k of Object.keys(cfg)) {
    if (k === 'mode' || k === 'max-buffer-size') continue;
    if (!JSON_FILE_OPTS.has(k)) throw new InvalidArgumentError(`unknown log opt '${k}' for json-file log driver`);
  }
}

/**
 * A container's log as dockerd stores it (mergeAndVerifyLogConfig): the daemon's driver when
 * none is named, the daemon's options under the container's when the driver is the daemon's;
 * then checked. Throws InvalidArgumentError (400) or NotImplementedError (501).
 */
export function resolveLogConfig(asked: PodLogConfig, daemonDefault: PodLogConfig): PodLogConfig {
  const driver = asked.driver || daemonDefault.driver;
  const opts = driver === daemonDefault.driver ? { ...daemonDefault.opts, ...asked.opts } : { ...asked.opts };
  validateLogOpts(driver, opts);
  return { driver, opts };
}
