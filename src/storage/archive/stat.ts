/**
 * dockerd's `X-Docker-Container-Path-Stat`: base64 of the JSON {name, size, mode, mtime,
 * linkTarget} of a path in a container, with `mode` in Go's os.FileMode bits (type bits high,
 * permission bits low) and `mtime` in RFC 3339 with nanoseconds.
 */
import type * as fs from 'node:fs';

/** A path's stat as dockerd's ContainerPathStat. */
export interface ContainerPathStat {
  name: string;
  size: number;
  mode: number;
  mtime: string;
  linkTarget: string;
}

// Go's os.FileMode type bits.
const GO_DIR = 2 ** 31;
const GO_SYMLINK = 2 ** 27;
const GO_DEVICE = 2 ** 26;
const GO_NAMED_PIPE = 2 ** 25;
const GO_SOCKET = 2 ** 24;
const GO_SETUID = 2 ** 23;
const GO_SETGID = 2 ** 22;
const GO_CHAR_DEVICE = 2 ** 21;
const GO_STICKY = 2 ** 20;

/** Go's os.FileMode of a stat. */
export function goFileMode(st: fs.Stats): number {
  let m = st.mode & 0o777;
  if (st.isDirectory()) m += GO_DIR;
  else if (st.isSymbolicLink()) m += GO_SYMLINK;
  else if (st.isBlockDevice()) m += GO_DEVICE;
  else if (st.isCharacterDevice()) m += GO_DEVICE + GO_CHAR_DEVICE;
  else if (st.isFIFO()) m += GO_NAMED_PIPE;
  else if (st.isSocket()) m += GO_SOCKET;
  if (st.mode & 0o4000) m += GO_SETUID;
  if (st.mode & 0o2000) m += GO_SETGID;
  if (st.mode & 0o1000) m += GO_STICKY;
  return m;
}

/** Go's time.Time JSON form (RFC 3339, nanoseconds without trailing zeros, UTC as Z). */
export function goTime(st: fs.Stats): string {
  const ns = BigInt.asUintN(
    64,
    (st as fs.Stats & { mtimeNs?: bigint }).mtimeNs ?? BigInt(Math.round(st.mtimeMs * 1e6)),
  );
  const secs = ns / 1_000_000_000n;
  const frac = (ns % 1_000_000_000n).toString().padStart(9, '0').replace(/0+$/, '');
  const base = new Date(Number(secs) * 1000).toISOString().slice(0, 19);
  return `${base}${frac ? `.${frac}` : ''}Z`;
}

/** The stat of a container path as dockerd reports it. */
export function pathStat(name: string, st: fs.Stats, linkTarget: string): ContainerPathStat {
  return { name, size: st.size, mode: goFileMode(st), mtime: goTime(st), linkTarget };
}

/** The header value: base64 of the JSON. */
export function encodePathStat(s: ContainerPathStat): string {
  return Buffer.from(JSON.stringify(s)).toString('base64');
}
