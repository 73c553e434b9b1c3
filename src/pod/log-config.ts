/**
 * Log drivers and their options, checked as dockerd 20.10 checks them:
 *
 *  - at create (`verifyLogConfig`): the daemon's default driver fills an empty Type, the
 *    daemon's default options fill the container's when the driver is the default one; an
 *    unknown driver, an unknown option or a bad `mode` is refused (400, dockerd's words);
 *  - at start (`parseLogPolicy`): the values of max-size, max-file and compress are parsed
 *    ("failed to initialize logging driver: ...", a 500 as in dockerd).
 *
 * podvisor has the `json-file` driver (with rotation, see ./logs.ts) and `none`. Drivers
 * dockerd has built in but podvisor does not (local, syslog, journald...) are answered 501.
 */
import { InvalidArgumentError, NotImplementedError, UnavailableError } from '../errors';

/** Docker's LogConfig: a driver name and its options. */
export interface LogConfig {
  Type: string;
  Config: Record<string, string>;
}

/** The log settings a pod is created with (PodSpec.log). */
export interface PodLogConfig {
  driver: string;
  opts: Record<string, string>;
}

/** What the json-file writer does with a container's output. */
export interface LogPolicy {
  /** 'none' writes nothing. */
  driver: 'json-file' | 'none';
  /** Rotate once the current file holds this many bytes; -1 = never. */
  maxSize: number;
  /** Files kept, the current one included (1 = the current file is cut back to empty). */
  maxFile: number;
  /** Rotated files are gzip'd (`<log>.N.gz`), as json-file's `compress`. */
  compress?: boolean;
}

/** The log driver when a pod names none (and records from before log settings existed). */
export const DEFAULT_LOG_POLICY: LogPolicy = { driver: 'json-file', maxSize: -1, maxFile: 1 };

/** Drivers podvisor implements. */
const SUPPORTED = new Set(['json-file', 'none']);

/** Drivers built into dockerd 20.10 that podvisor does not implement. */
const DOCKERD_ONLY = new Set(['local', 'syslog', 'journald', 'gelf', 'fluentd', 'awslogs', 'splunk', 'etwlogs', 'gcplogs', 'logentries']);

/** json-file's options (dockerd's daemon/logger/jsonfilelog ValidateLogOpt). */
const JSON_FILE_OPTS = new Set(['max-file', 'max-size', 'compress', 'labels', 'labels-regex', 'env', 'env-regex', 'tag']);

/** go-units' FromHumanSize: decimal units (k = 1000), an optional "i" and "b". */
export function fromHumanSize(v: string): number {
  const m = /^(\d+(?:\.\d+)*) ?([kKmMgGtTpP])?[iI]?[bB]?$/.exec(v);
  const n = m ? Number(m[1]) : NaN;
  if (!m || !Number.isFinite(n)) throw new Error(`invalid size: '${v}'`);
  const mult: Record<string, number> = { k: 1e3, m: 1e6, g: 1e9, t: 1e12, p: 1e15 };
  return Math.trunc(n * (m[2] ? mult[m[2].toLowerCase()] : 1));
}

/** go-units' RAMInBytes: binary units (k = 1024). */
function ramInBytes(v: string): number {
  const m = /^(\d+(?:\.\d+)*) ?([kKmMgGtTpP])?[iI]?[bB]?$/.exec(v);
  if (!m) throw new Error(`invalid size: '${v}'`);
  const mult: Record<string, number> = { k: 2 ** 10, m: 2 ** 20, g: 2 ** 30, t: 2 ** 40, p: 2 ** 50 };
  return Math.trunc(Number(m[1]) * (m[2] ? mult[m[2].toLowerCase()] : 1));
}

/** Check a driver and its options (dockerd's logger.ValidateLogOpts); throws with its words. */
export function validateLogOpts(driver: string, cfg: Record<string, string>): void {
  if (driver === 'none') return;
  const mode = cfg.mode ?? '';
  if (mode !== '' && mode !== 'blocking' && mode !== 'non-blocking') {
    throw new InvalidArgumentError(`logger: logging mode not supported: ${mode}`);
  }
  if (cfg['max-buffer-size'] !== undefined) {
    if (mode !== 'non-blocking') throw new InvalidArgumentError("logger: max-buffer-size option is only supported with 'mode=non-blocking'");
    try {
      ramInBytes(cfg['max-buffer-size']);
    } catch (e) {
      throw new InvalidArgumentError(`error parsing option max-buffer-size: ${(e as Error).message}`);
    }
  }
  if (DOCKERD_ONLY.has(driver)) throw new NotImplementedError(`podvisor does not support the '${driver}' log driver (only json-file and none)`);
  if (!SUPPORTED.has(driver)) throw new InvalidArgumentError(`error looking up logging plugin ${driver}: plugin "${driver}" not found`);
  for (const k of Object.keys(cfg)) {
    if (k === 'mode' || k === 'max-buffer-size') continue;
    if (!JSON_FILE_OPTS.has(k)) throw new InvalidArgumentError(`unknown log opt '${k}' for json-file log driver`);
  }
}

/**
 * A container's LogConfig as dockerd stores it (mergeAndVerifyLogConfig): the daemon's
 * driver when none is named, the daemon's options under the container's when the driver is
 * the daemon's; then checked. Throws InvalidArgumentError (400) or NotImplementedError (501).
 */
export function verifyLogConfig(lc: LogConfig, daemonDefault: LogConfig): LogConfig {
  const type = lc.Type || daemonDefault.Type;
  const config = type === daemonDefault.Type ? { ...daemonDefault.Config, ...lc.Config } : { ...lc.Config };
  validateLogOpts(type, config);
  return { Type: type, Config: config };
}

function goAtoi(v: string): number {
  if (!/^[+-]?\d+$/.test(v)) throw new Error(`strconv.Atoi: parsing "${v}": invalid syntax`);
  return Number(v);
}

function goParseBool(v: string): boolean {
  if (['1', 't', 'T', 'true', 'TRUE', 'True'].includes(v)) return true;
  if (['0', 'f', 'F', 'false', 'FALSE', 'False'].includes(v)) return false;
  throw new Error(`strconv.ParseBool: parsing "${v}": invalid syntax`);
}

/**
 * What the writer does, from a pod's log settings (json-file's New in dockerd). Throws
 * UnavailableError "failed to initialize logging driver: ..." for values dockerd refuses at
 * start. No settings (pods created before they existed): json-file without rotation.
 */
export function parseLogPolicy(c: PodLogConfig | undefined): LogPolicy {
  if (!c || c.driver === 'json-file' && Object.keys(c.opts).length === 0) return { ...DEFAULT_LOG_POLICY };
  if (c.driver === 'none') return { driver: 'none', maxSize: -1, maxFile: 1 };
  try {
    let maxSize = -1;
    if (c.opts['max-size'] !== undefined) {
      maxSize = fromHumanSize(c.opts['max-size']);
      if (maxSize <= 0) throw new Error('max-size must be a positive number');
    }
    let maxFile = 1;
    if (c.opts['max-file'] !== undefined) {
      maxFile = goAtoi(c.opts['max-file']);
      if (maxFile < 1) throw new Error('max-file cannot be less than 1');
    }
    const compress = c.opts.compress !== undefined && goParseBool(c.opts.compress);
    if (compress && (maxFile === 1 || maxSize === -1)) {
      throw new Error('compress cannot be true when max-file is less than 2 or max-size is not set');
    }
    return { driver: 'json-file', maxSize, maxFile, ...(compress ? { compress } : {}) };
  } catch (e) {
    throw new UnavailableError(`failed to initialize logging driver: ${(e as Error).message}`);
  }
}

/** `docker logs` of a pod whose driver keeps nothing: dockerd's 501. */
export function assertLogsReadable(c: PodLogConfig | undefined): void {
  if (c?.driver === 'none') throw new NotImplementedError('configured logging driver does not support reading');
}
