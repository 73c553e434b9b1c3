/**
 * Adding entries to a tar-stream pack without risking the process. A pack destroyed while
 * entries are open or queued (its reader went away: a client closing its connection in the
 * middle of an archive) destroys each of those entries with its error, and tar-stream entries
 * emit it as an 'error' event: with no listener, that event is thrown out of the event loop
 * and ends the daemon. A destroyed entry also never emits 'drain', so a writer waiting for
 * it would wait forever, holding its files open. Every entry made here has a listener, and
 * writes fail fast once the entry is closing. The pack's own error is reported by whoever
 * reads the pack (its pipeline), so the entries' copies are only listened to.
 */
import type * as tar from 'tar-stream';

/** A tar header, as tar-stream takes it. */
export type TarHeader = Parameters<tar.Pack['entry']>[0];

/** An open entry of a pack (a streamx Writable). */
export type TarEntry = ReturnType<tar.Pack['entry']>;

/**
 * Add an entry to `pack`, with its whole body or (no body) to be written with writeEntry.
 * `done` settles when the entry is in the pack or thrown away; it never goes unhandled.
 * Throws when the pack is already destroyed or finalized.
 */
export function packEntry(
  pack: tar.Pack,
  header: TarHeader,
  body?: Buffer | string,
): { entry: TarEntry; done: Promise<void> } {
  let settle: (err?: Error | null) => void = () => undefined;
  const done = new Promise<void>((resolve, reject) => (settle = (err) => (err ? reject(err) : resolve())));
  done.catch(() => undefined);
  // Outside the promise: a pack that is already gone throws here, to the caller.
  const entry =
    body === undefined ? pack.entry(header, (err) => settle(err)) : pack.entry(header, body, (err) => settle(err));
  entry.on('error', () => undefined);
  return { entry, done };
}

/** True once the entry is being destroyed (its pack went away). */
export function entryClosing(entry: TarEntry): boolean {
  return Boolean((entry as { destroying?: boolean }).destroying) || entry.destroyed;
}

/**
 * Write `chunk` to `entry`, waiting while the pack's reader is behind. Rejects when the
 * entry is closed or closes meanwhile (the archive's reader went away).
 */
export async function writeEntry(entry: TarEntry, chunk: Buffer): Promise<void> {
  if (entryClosing(entry)) throw new Error('the archive stream was closed');
  if (!entry.write(chunk)) {
    await new Promise<void>((resolve) => {
      if (entryClosing(entry)) return resolve();
      const go = () => {
        entry.off('drain', go);
        entry.off('close', go);
        resolve();
      };
      entry.on('drain', go);
      entry.on('close', go);
    });
  }
  if (entryClosing(entry)) throw new Error('the archive stream was closed');
}
