/**
 * What a tar holds, for tests that check an archive (`docker save`, a save written in
 * process, a committed or squashed layer): every member by name with its bytes, or the
 * members' names in order, read with tar-stream.
 */
import type { Readable } from 'node:stream';
import * as tar from 'tar-stream';

/** Every member of `archive` (the whole tar, or a stream of it), in order, with its bytes. */
async function readMembers(archive: Buffer | NodeJS.ReadableStream): Promise<Array<{ name: string; data: Buffer }>> {
  const out: Array<{ name: string; data: Buffer }> = [];
  const ex = tar.extract();
  const done = (async () => {
    for await (const entry of ex) {
      const chunks: Buffer[] = [];
      for await (const c of entry) chunks.push(c as Buffer);
      out.push({ name: entry.header.name, data: Buffer.concat(chunks) });
    }
  })();
  if (Buffer.isBuffer(archive)) ex.end(archive);
  else archive.pipe(ex);
  await done;
  return out;
}

/** The members of `archive` (the whole tar, or a stream of it) by name. */
export async function tarMembers(archive: Buffer | Readable): Promise<Map<string, Buffer>> {
  return new Map((await readMembers(archive)).map((m) => [m.name, m.data]));
}

/** The entry names of `archive` (the whole tar, or a stream of it), in order. */
export async function tarEntryNames(archive: Buffer | NodeJS.ReadableStream): Promise<string[]> {
  return (await readMembers(archive)).map((m) => m.name);
}

/** A tar of one file `name` (mode 0644) holding `body`. */
export async function tarOfFile(name: string, body: string): Promise<Buffer> {
  const p = tar.pack();
  p.entry({ name, mode: 0o644 }, body);
  p.finalize();
  const chunks: Buffer[] = [];
  for await (const c of p) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}
