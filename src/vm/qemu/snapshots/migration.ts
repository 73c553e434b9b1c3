/**
 * A VM's device state over QEMU's migration stream, for templates and their clones
 * (./templates.ts, ./clone-load.ts, ./fork-template.ts): a template's state saved to its file
 * (RAM stays in the shared RAM file: x-ignore-shared), and that state loaded into a new clone.
 */
import * as fs from 'node:fs';
import * as net from 'node:net';
import { UnavailableError } from '../../../errors';
import type { VmPaths } from '../runtime-dir';
import { connectWhenListening, QmpClient } from '../qmp';
import { faultPoint } from '../fault';

/** Deadline of saving a template's state, and of loading it into a clone. */
export const MIGRATE_TIMEOUT_MS = 20_000;

/** How saveState saves. */
export interface SaveOptions {
  /**
   * Save every RAM page with the device state (no x-ignore-shared): the file then restores
   * into a QEMU with RAM of its own (loadState), not only into a clone of the same RAM file
   * (a checkpoint outlives the template whose file a clone maps).
   */
  allRam?: boolean;
}

/** How restoreClone loads. */
export interface LoadOptions extends SaveOptions {
  /**
   * A checkpoint's state: no self-announce after the load (its guest has the addresses it was
   * saved with, which the host changes once it runs).
   */
  checkpoint?: boolean;
}

/**
 * Stop the VM and save its device state to `stateFile` (RAM stays in its file: x-ignore-shared;
 * with `allRam`, the RAM too).
 * QEMU sends the state to a unix socket the daemon listens on beside it and writes to the file:
 * its seccomp sandbox (cmdline.ts: spawn=deny) forbids `exec:cat > file`, QEMU 7.2 has no
 * `file:` URI, and an `fd:` URI needs a descriptor passed over QMP (SCM_RIGHTS), which Node's
 * sockets cannot send.
 */
export async function saveState(paths: VmPaths, stateFile: string, opts: SaveOptions = {}): Promise<void> {
  // In the VM's run/, which its jailed QEMU reaches (a checkpoint's directory under a deep data
  // root might not leave a socket path its 108 bytes either).
  const sink = await receiveState(paths.stateSock, stateFile);
  // The file's own failure (a full disk) is what went wrong, not QEMU's view of it (a reset
  // connection): it is the one reported.
  let written: Error | undefined;
  sink.written.catch((err: Error) => (written = err));
  try {
    const qmp = await QmpClient.connect(paths.qmpSock);
    try {
      await qmp.execute('stop');
      faultPoint(opts.allRam ? 'save-after-stop' : 'template-save-after-stop');
      await qmp.execute('migrate-set-capabilities', {
        capabilities: [{ capability: 'x-ignore-shared', state: !opts.allRam }],
      });
      await qmp.execute('migrate', { uri: `unix:${sink.socket}` });
      await waitForMigration(qmp, opts.allRam ? 'saving the VM' : 'saving the template');
    } catch (err) {
      await new Promise((r) => setImmediate(r));
      if (written) throw new UnavailableError(`writing the VM's state: ${written.message}`);
      throw err;
    } finally {
      qmp.close();
    }
    // QEMU closes the stream once it reports the migration completed.
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      sink.written,
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () =>
            reject(
              new UnavailableError(`saving the template: the state stream did not end within ${MIGRATE_TIMEOUT_MS} ms`),
            ),
          MIGRATE_TIMEOUT_MS,
        );
      }),
    ]).finally(() => clearTimeout(timer));
  } finally {
    sink.close();
  }
}

/**
 * Listen on `socket` (in the template's own 0700 directory) for QEMU's one migration stream
 * and write it to `file`. `written` resolves once the stream ended and the file is closed.
 */
async function receiveState(
  socket: string,
  file: string,
): Promise<{ socket: string; written: Promise<void>; close(): void }> {
  fs.rmSync(socket, { force: true });
  let resolveWritten!: () => void;
  let rejectWritten!: (err: Error) => void;
  const written = new Promise<void>((resolve, reject) => {
    resolveWritten = resolve;
    rejectWritten = reject;
  });
  written.catch(() => undefined);
  const server = net.createServer((conn) => {
    server.close(); // one stream only
    const out = fs.createWriteStream(file, { mode: 0o600 });
    out.once('error', (err) => {
      conn.destroy();
      rejectWritten(err);
    });
    conn.once('error', (err) => {
      out.destroy();
      rejectWritten(err);
    });
    out.once('finish', () => resolveWritten());
    conn.pipe(out);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(socket, () => resolve());
  });
  return {
    socket,
    written,
    close: () => {
      server.close();
      fs.rmSync(socket, { force: true });
    },
  };
}

/**
 * Load a template's state into a clone started with `-incoming defer` and run it. The clone's
 * RAM already maps the template's file, so only the device state is read (with `allRam`: a
 * state saved with its RAM, into a QEMU whose RAM is its own), from the clone's
 * fd `stateFd` (the state file, opened by the host and passed at spawn: no `exec:cat`, whose
 * shell and cat cost two more processes per clone). `qmp`: its monitor's socket, or a
 * connection to it already open (the one its disks were attached over), which stays open.
 */
export async function restoreClone(qmp: string | QmpClient, stateFd: number, opts: LoadOptions = {}): Promise<void> {
  if (typeof qmp === 'string') {
    const own = await connectWhenListening(qmp);
    try {
      return await restoreClone(own, stateFd, opts);
    } finally {
      own.close();
    }
  }
  await qmp.execute('migrate-set-capabilities', {
    capabilities: [{ capability: 'x-ignore-shared', state: !opts.allRam }],
  });
  // A checkpoint's guest has the addresses it was saved with, which the host changes once
  // it runs (a fork's are its own): QEMU's announce after the load would make the guest
  // send gratuitous ARPs for the saved address (virtio-net's ANNOUNCE), and a bridge that
  // got one would send the saved container's traffic to the fork.
  if (opts.checkpoint) await qmp.execute('migrate-set-parameters', { 'announce-rounds': 0 });
  await qmp.execute('migrate-incoming', { uri: `fd:${stateFd}` });
  await waitForMigration(qmp, opts.allRam ? 'restoring the VM' : 'restoring the template');
  const st = (await qmp.execute('query-status')) as { status?: string };
  if (st?.status !== 'running') await qmp.execute('cont');
}

/** Poll query-migrate until it completed; throws when it failed or takes too long. */
async function waitForMigration(qmp: QmpClient, what: string): Promise<void> {
  const deadline = Date.now() + MIGRATE_TIMEOUT_MS;
  for (;;) {
    const m = (await qmp.execute('query-migrate')) as { status?: string; 'error-desc'?: string };
    if (m?.status === 'completed') return;
    if (m?.status === 'failed' || m?.status === 'cancelled')
      throw new UnavailableError(`${what}: migration ${m.status}${m['error-desc'] ? `: ${m['error-desc']}` : ''}`);
    if (Date.now() > deadline)
      throw new UnavailableError(`${what}: not done within ${MIGRATE_TIMEOUT_MS} ms (${m?.status ?? 'no status'})`);
    await new Promise((r) => setTimeout(r, 5));
  }
}
