/**
 * The few filesystem operations Node has no call for, done by spawning small standard tools
 * (one spawn per operation; these entries are rare in image layers):
 *   - device nodes, fifos and overlay whiteouts (char 0:0): coreutils `mknod`;
 *   - extended attributes (SCHILY.xattr.* from tar, trusted.overlay.opaque): `setfattr -h`
 *     from the `attr` package, which never follows a symlink.
 * Callers pass paths whose parent directories they have already proven to be real
 * directories inside the tree they own.
 */
import { execFile } from 'node:child_process';

function run(cmd: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { timeout: 30000 }, (err, _stdout, stderr) => {
      if (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'ENOENT') reject(new Error(`${cmd} is not installed (run scripts/bootstrap.sh)`));
        else reject(new Error(`${cmd} ${args.join(' ')}: ${String(stderr).trim() || err.message}`));
        return;
      }
      resolve();
    });
  });
}

/** Create a character or block device node, or a fifo, with permission bits `mode`. */
export function mknod(path: string, kind: 'c' | 'b' | 'p', mode: number, major = 0, minor = 0): Promise<void> {
  const args = ['-m', (mode & 0o7777).toString(8), '--', path, kind];
  if (kind !== 'p') args.push(String(major), String(minor));
  return run('mknod', args);
}

/** Set an extended attribute on `path` itself (symlinks are not followed). */
export function lsetxattr(path: string, name: string, value: Buffer): Promise<void> {
  return run('setfattr', ['-h', '-n', name, '-v', `0s${value.toString('base64')}`, '--', path]);
}
