/**
 * `podvisor pull`: Docker's pull on the same socket, its progress stream shown as one bar
 * per layer (cli-progress) on a terminal, or as plain status lines otherwise. Commands that
 * make a pod pull the images it needs that are not local (`pullingMissing`), as `docker run`
 * does.
 */
import cliProgress from 'cli-progress';
import { CliError, EXIT, type Client } from './client';

/** One line of Docker's progress stream. */
interface ProgressLine {
  status?: string;
  id?: string;
  progressDetail?: { current?: number; total?: number };
  error?: string;
  errorDetail?: { message?: string };
}

/** Pull `ref`; resolves when the image is stored. */
export async function pull(c: Client, ref: string, out: NodeJS.WriteStream = process.stdout): Promise<void> {
  const [name, tag] = splitRef(ref);
  const res = await c.raw(
    'POST',
    `/v1.41/images/create?fromImage=${encodeURIComponent(name)}&tag=${encodeURIComponent(tag)}`,
  );
  if ((res.statusCode ?? 500) >= 400) {
    const chunks: Buffer[] = [];
    for await (const ch of res) chunks.push(ch as Buffer);
    let msg = Buffer.concat(chunks).toString('utf8');
    try {
      msg = (JSON.parse(msg) as { message: string }).message;
    } catch {
      // plain text
    }
    throw new CliError(msg, res.statusCode === 404 ? EXIT.notFound : EXIT.failed);
  }
  const bars = out.isTTY
    ? new cliProgress.MultiBar(
        { format: '{id} {status} [{bar}] {percentage}%', hideCursor: true, clearOnComplete: false, stream: out },
        cliProgress.Presets.shades_classic,
      )
    : undefined;
  const byLayer = new Map<string, cliProgress.SingleBar>();
  let rest = '';
  let failure: string | undefined;
  for await (const chunk of res) {
    rest += (chunk as Buffer).toString('utf8');
    const lines = rest.split('\n');
    rest = lines.pop() ?? '';
    for (const l of lines) {
      if (!l.trim()) continue;
      let p: ProgressLine;
      try {
        p = JSON.parse(l) as ProgressLine;
      } catch {
        continue;
      }
      if (p.error) {
        failure = p.errorDetail?.message ?? p.error;
        continue;
      }
      const total = p.progressDetail?.total;
      if (bars && p.id && total) {
        let bar = byLayer.get(p.id);
        if (!bar) {
          bar = bars.create(total, 0, { id: p.id, status: p.status });
          byLayer.set(p.id, bar);
        }
        bar.setTotal(total);
        bar.update(p.progressDetail?.current ?? 0, { id: p.id, status: (p.status ?? '').padEnd(11) });
      } else if (bars && p.id && byLayer.has(p.id)) {
        const bar = byLayer.get(p.id) as cliProgress.SingleBar;
        bar.update(bar.getTotal(), { id: p.id, status: (p.status ?? '').padEnd(11) });
      } else if (!bars || !p.id) {
        if (bars) bars.log(`${p.status ?? ''}\n`);
        else out.write(`${p.id ? `${p.id}: ` : ''}${p.status ?? ''}\n`);
      }
    }
  }
  bars?.stop();
  if (failure) throw new CliError(failure, EXIT.failed);
}

/** Split a reference into name and tag (default latest; a digest stays in the name). */
export function splitRef(ref: string): [string, string] {
  if (ref.includes('@')) return [ref, ''];
  const slash = ref.lastIndexOf('/');
  const colon = ref.lastIndexOf(':');
  if (colon > slash) return [ref.slice(0, colon), ref.slice(colon + 1)];
  return [ref, 'latest'];
}

/**
 * Send a request that makes a pod (`send`); when the daemon answers that an image is not
 * local (a 404 naming it), pull it with its progress on `progress` (stderr: stdout stays the
 * command's own) and send the request again, as the docker CLI does on "No such image". A pod
 * file's images are pulled one by one, each once: an image still missing after its pull is
 * the daemon's answer.
 */
export async function pullingMissing<T>(
  c: Client,
  send: () => Promise<T>,
  progress: NodeJS.WriteStream = process.stderr,
): Promise<T> {
  const pulled = new Set<string>();
  for (;;) {
    try {
      return await send();
    } catch (err) {
      const image = err instanceof CliError ? err.missingImage : undefined;
      if (!image || pulled.has(image)) throw err;
      pulled.add(image);
      progress.write(`Unable to find image '${image}' locally\n`);
      await pull(c, image, progress);
    }
  }
}
