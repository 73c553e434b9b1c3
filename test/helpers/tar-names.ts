/** The entry names of a tar stream, in order (the content is read and dropped). */
import * as tar from 'tar-stream';

/** Read `stream` (a tar) to its end; resolves with its entries' names. */
export async function tarEntryNames(stream: NodeJS.ReadableStream): Promise<string[]> {
  const names: string[] = [];
  const x = tar.extract();
  x.on('entry', (h, s, next) => {
    names.push(h.name);
    s.resume();
    s.on('end', next);
  });
  const done = new Promise<void>((r) => x.on('finish', () => r()));
  stream.pipe(x);
  await done;
  return names;
}
