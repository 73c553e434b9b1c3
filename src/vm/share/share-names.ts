/**
 * Where a source appears in a VM's volume share: the keyed names of `<share>/src/`.
 *
 * One name per source and access mode, not per container, so that the containers of one VM (a
 * pod) that mount the same volume reach it through one guest directory (the guest's 9p client
 * keeps no inode across two paths to the same host file, so a unix socket bound through one
 * container's path would refuse a connect through another's: ECONNREFUSED). The name is an
 * HMAC of the source under a secret of the VM that only the host reads (`volumes.key` beside
 * the share), so a guest cannot compute where the next source will go.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createHmac, randomBytes } from 'node:crypto';
import { UnavailableError } from '../../errors';
import { openVmFile } from '../../util/jailed-files';

/** Bytes of a VM's share-name key. */
const KEY_BYTES = 32;
/** Keys read, by share directory (VMs come and go: past this many, the cache starts again). */
const keys = new Map<string, Buffer>();
const MAX_KEYS = 1024;

/** The key file's bytes (at most one more than a key's), or undefined when there is none yet. */
function readKey(file: string): Buffer | undefined {
  let fd: number;
  try {
    fd = openVmFile(file, 'read');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
  try {
    const buf = Buffer.alloc(KEY_BYTES + 1);
    return buf.subarray(0, fs.readSync(fd, buf, 0, buf.length, 0));
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * The VM's secret for names in its volume share: `<share>.key` (the daemon's part of the VM's
 * runtime directory, which no guest or jailed process reaches; in an earlier build's VM its
 * QEMU could, so it is read as any file in a jail's reach: src/util/jailed-files.ts), made at
 * the first use, kept as long as the VM (a restarted daemon reads it again, so that it finds
 * the copies it made before).
 */
export function shareKey(share: string): Buffer {
  const known = keys.get(share);
  if (known) return known;
  const file = `${share}.key`;
  let key = readKey(file);
  if (!key) {
    // Written whole under a temporary name, then linked: a concurrent maker's key wins.
    const tmp = `${file}.${process.pid}.${randomBytes(6).toString('hex')}`;
    fs.writeFileSync(tmp, randomBytes(KEY_BYTES), { mode: 0o600 });
    try {
      fs.linkSync(tmp, file);
    } catch (le) {
      if ((le as NodeJS.ErrnoException).code !== 'EEXIST') throw le;
    } finally {
      fs.rmSync(tmp, { force: true });
    }
    key = readKey(file) ?? Buffer.alloc(0);
  }
  if (key.length !== KEY_BYTES) throw new UnavailableError(`${file}: not a share-name key`);
  if (keys.size >= MAX_KEYS) keys.clear();
  keys.set(share, key);
  return key;
}

/**
 * Directory (or file) of the volume share `share` where `source` appears in that mode,
 * relative to the share (see the module comment).
 */
export function sourceSubpath(share: string, source: string, readOnly: boolean): string {
  const h = createHmac('sha256', shareKey(share));
  h.update(`${readOnly ? 'ro' : 'rw'}\0${path.resolve(source)}`);
  return `src/${h.digest('hex').slice(0, 32)}`;
}
