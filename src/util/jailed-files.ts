/**
 * The daemon's opens of files a jailed process can write: what is in a VM's `run/` (its logs
 * and sockets, written by QEMU and its helpers: src/vm/qemu/runtime-dir.ts), and everything in
 * the directory of a VM an earlier build started (layout 'flat', where its QEMU writes beside
 * vm.json and volumes.key).
 *
 * A QEMU taken over by its guest may replace any name there with a symlink to a host file, a
 * FIFO, a device node, or a hard link... (a socket, too: connectVmSocket). So such a file is opened by its name with O_NOFOLLOW
 * (a symlink in the last component fails with ELOOP) and O_NONBLOCK (a FIFO opens without
 * waiting for a writer and reads nothing), then fstat-checked as a regular file with one link
 * before a byte is read or written; anything else is refused and logged once. The components
 * above the last one are the daemon's: the VM directory and `run/` itself are not in any jail
 * (only `run/` is, bound as a mount root, which a jailed process can neither rename nor
 * replace), so the last component is the only one a jailed process chooses.
 */
import * as fs from 'node:fs';
import * as net from 'node:net';
import { logger } from './log';

const log = logger('vm');

const { O_NOFOLLOW, O_NONBLOCK, O_RDONLY, O_RDWR, O_WRONLY, O_APPEND, O_CREAT } = fs.constants;

/** What a file in a jail's reach was refused for (not a regular file, or a symlink). */
export class VmFileError extends Error {
  constructor(
    readonly file: string,
    why: string,
  ) {
    super(`${file}: ${why}; not used`);
  }
}

/** How a file in a jail's reach is opened. */
export type VmFileMode = 'read' | 'read-write' | 'append-create';

const FLAGS: Record<VmFileMode, number> = {
  read: O_RDONLY,
  'read-write': O_RDWR,
  'append-create': O_WRONLY | O_APPEND | O_CREAT,
};

/** Paths whose refusal was logged (each once; forgotten past this many, so it stays bounded). */
const MAX_REPORTED = 1024;
const reported = new Set<string>();

/**
 * Open `file` (see the module comment) for `mode`, as a descriptor on a regular file with one
 * link. Throws VmFileError for a symlink or any other kind of file (logged once per path), the
 * system's error (ENOENT...) otherwise.
 */
export function openVmFile(file: string, mode: VmFileMode): number {
  let fd: number;
  try {
    fd = fs.openSync(file, FLAGS[mode] | O_NOFOLLOW | O_NONBLOCK, 0o600);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ELOOP') throw refused(file, 'a symlink');
    // A FIFO opened for writing with no reader (O_NONBLOCK), or a device without its driver.
    if (code === 'ENXIO') throw refused(file, 'not a regular file');
    throw e;
  }
  try {
    const st = fs.fstatSync(fd);
    if (!st.isFile()) throw refused(file, 'not a regular file');
    if (st.nlink !== 1) throw refused(file, `a file with ${st.nlink} links`);
    return fd;
  } catch (e) {
    fs.closeSync(fd);
    throw e;
  }
}

function refused(file: string, why: string): VmFileError {
  const err = new VmFileError(file, why);
  if (!reported.has(file)) {
    if (reported.size >= MAX_REPORTED) reported.clear();
    reported.add(file);
    log.warn(`${err.message} (a file a jailed process can write)`);
  }
  return err;
}

/** The content of `file` (see openVmFile), at most `maxBytes` of it; undefined when it cannot be used. */
export function readVmFile(file: string, maxBytes: number): Buffer | undefined {
  let fd: number | undefined;
  try {
    fd = openVmFile(file, 'read');
    const len = Math.min(fs.fstatSync(fd).size, maxBytes);
    const buf = Buffer.alloc(len);
    const n = fs.readSync(fd, buf, 0, len, 0);
    return buf.subarray(0, n);
  } catch {
    return undefined;
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

/** The size of `file` (see openVmFile); 0 when it cannot be used. */
export function vmFileSize(file: string): number {
  let fd: number | undefined;
  try {
    fd = openVmFile(file, 'read');
    return fs.fstatSync(fd).size;
  } catch {
    return 0;
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

/** open(2)'s O_PATH (Node's fs.constants lacks it). */
const O_PATH = 0o10000000;

/**
 * Connect to unix socket `sock`, which a jailed process made (QEMU's QMP and agent sockets, in
 * the VM's `run/`): connect(2) follows a symlink, so a socket name swapped for one to the
 * daemon's own socket, or to another VM's monitor, would be reached. So the socket is opened
 * O_PATH | O_NOFOLLOW, checked to be a socket, and connected to through that descriptor
 * (/proc/<pid>/fd/<fd>, which the kernel resolves to the inode held). Throws the system's
 * error (ENOENT while it is not there yet) or VmFileError, as openVmFile does.
 */
export function connectVmSocket(sock: string): net.Socket {
  let fd: number;
  try {
    fd = fs.openSync(sock, O_PATH | O_NOFOLLOW);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ELOOP') throw refused(sock, 'a symlink');
    throw e;
  }
  let closed = false;
  const close = () => {
    if (!closed) fs.closeSync(fd);
    closed = true;
  };
  try {
    if (!fs.fstatSync(fd).isSocket()) throw refused(sock, 'not a socket');
    const s = net.createConnection({ path: `/proc/${process.pid}/fd/${fd}` });
    s.once('connect', close);
    s.once('error', close);
    s.once('close', close);
    return s;
  } catch (e) {
    close();
    throw e;
  }
}
