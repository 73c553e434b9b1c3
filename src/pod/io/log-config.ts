/**
 * A pod's log settings and what the writer makes of them: at start (`parseLogPolicy`) the
 * values of max-size, max-file and compress are parsed ("failed to initialize logging
 * driver: ...", a 500 as in dockerd). Driver and option names are checked at create by the
 * front end (the Docker API's checks: src/api/v1.41/docker/log-config.ts).
 *
 * podvisor has the `json-file` driver (with rotation, see ./logs.ts) and `none`.
 */
import { LogConfigError } from '../errors';

import type { PodLogConfig } from '../types';

export type { PodLogConfig } from '../types';

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
  /**
   * Also write each entry, in the CRI log format, to this file (the kubelet's log path of a CRI
   * container; the `cri-log-path` option, set by the creation service's CRI entry only).
   */
  criPath?: string;
}

/** The log option naming a CRI container's log file (LogPolicy.criPath). */
export const CRI_LOG_PATH_OPT = 'cri-log-path';

/** The log driver when a pod names none (and records from before log settings existed). */
export const DEFAULT_LOG_POLICY: LogPolicy = { driver: 'json-file', maxSize: -1, maxFile: 1 };

/** go-units' FromHumanSize: decimal units (k = 1000), an optional "i" and "b". */
export function fromHumanSize(v: string): number {
  const m = /^(\d+(?:\.\d+)*) ?([kKmMgGtTpP])?[iI]?[bB]?$/.exec(v);
  const n = m ? Number(m[1]) : NaN;
  if (!m || !Number.isFinite(n)) throw new Error(`invalid size: '${v}'`);
  const mult: Record<string, number> = { k: 1e3, m: 1e6, g: 1e9, t: 1e12, p: 1e15 };
  return Math.trunc(n * (m[2] ? mult[m[2].toLowerCase()] : 1));
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
  if (!c || (c.driver === 'json-file' && Object.keys(c.opts).length === 0)) return { ...DEFAULT_LOG_POLICY };
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
    const criPath = c.opts[CRI_LOG_PATH_OPT];
    return {
      driver: 'json-file',
      maxSize,
      maxFile,
      ...(compress ? { compress } : {}),
      ...(criPath ? { criPath } : {}),
    };
  } catch (e) {
    throw new LogConfigError((e as Error).message);
  }
}
