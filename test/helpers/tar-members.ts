/**
 * What a tar holds, for tests that check an archive (`docker save`, a save written in
 * process): every member by name with its bytes, read with tar-stream.
 */
import type { Readable } from 'node:stream';
import * as tar from 'tar-stream';

/** The members of `archive` (the whole tar, or a stream of it) by name. */
export async function tarMembers(archive: Buffer | Readable): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>();
  const ex = tar.extract();
  const done = (async () => {
    for await (const entry of ex) {
      const chunks: Buffer[] = [];
      for await (const c of entry) chunks.push(c as Buffer);
      out.set(entry.header.name, Buffer.concat(chunks));
    }
  })();
  if (Buffer.isBuffer(archive)) ex.end(archive);
  else archive.pipe(ex);
  await done;
  return out;
}
