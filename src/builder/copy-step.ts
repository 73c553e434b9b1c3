/**
 * The COPY and ADD instructions of the classic builder (./builder.ts): sources found and
 * checksummed as dockerd does (the cache keys on their content), URLs fetched on every build,
 * the files written by ./copy.ts.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Instruction } from '../dockerfile/parse';
import { expandWord, expandWords } from '../dockerfile/words';
import { InvalidArgumentError } from '../errors';
import { RootDir } from '../storage/archive/resolve';
import { sha256Digest } from '../storage/digest';
import type { StepImage } from './backend';
import { writeCopy, type CopyPlan } from './copy';
import { BuildError } from './options';
import { download, isUrl } from './remote';
import { checksumSources, findSources } from './sources';
import type { StageState, StepHost } from './stage';

/** Fetch every URL of an ADD into `dir`; its root and the files' names there. */
async function fetchAll(urls: string[], dir: string, dest: string): Promise<{ root: RootDir; names: string[] }> {
  const names: string[] = [];
  const fallback = dest.endsWith('/') ? '' : path.posix.basename(dest);
  for (const u of urls) {
    try {
      names.push(await download(u, dir, fallback));
    } catch (e) {
      throw new BuildError((e as Error).message);
    }
  }
  return { root: await RootDir.open(dir), names };
}

/**
 * A COPY or ADD step: its sources (the context, another stage or image with --from, URLs for
 * ADD) checksummed for the cache key, then written into a new layer over the stage's image.
 */
export async function copyStep(host: StepHost, ins: Instruction, st: StageState, escape: string): Promise<void> {
  const keyword = ins.keyword as 'COPY' | 'ADD';
  for (const f of Object.keys(ins.flags))
    if (f !== 'chown' && (f !== 'from' || keyword === 'ADD')) throw new BuildError(`Unknown flag: ${f}`);
  const words = ins.json ?? expandWords(ins.args, host.lookup(st), escape);
  if (words.length < 2)
    throw new BuildError(
      `${keyword} requires at least two arguments, but only one was provided. Destination could not be determined.`,
    );
  const srcWords = words.slice(0, -1);
  const urls = srcWords.filter(isUrl);
  if (urls.length && keyword === 'COPY') throw new BuildError(`source can't be a URL for COPY`);
  const localWords = srcWords.filter((w) => !isUrl(w));
  const rawDest = words[words.length - 1];
  const dest = path.posix.isAbsolute(rawDest)
    ? rawDest
    : path.posix.join(st.config.WorkingDir || '/', rawDest) + (rawDest.endsWith('/') || rawDest === '.' ? '/' : '');
  const chown = ins.flags.chown !== undefined ? expandWord(ins.flags.chown, host.lookup(st), escape) : undefined;
  const from = ins.flags.from;
  const withSource = async <T>(fn: (root: RootDir) => Promise<T>): Promise<T> => {
    if (from === undefined) {
      const root = await RootDir.open(host.contextDir);
      try {
        return await fn(root);
      } finally {
        await root.close();
      }
    }
    const stageImage = await host.imageOf(from);
    return host.backend.readImage(stageImage, fn);
  };
  // URLs are fetched on every build, as dockerd does: the cache keys on what they hold.
  const remoteDir = urls.length
    ? await fs.promises.mkdtemp(path.join(path.dirname(host.contextDir), 'remote-'))
    : undefined;
  let remote: { root: RootDir; names: string[] } | undefined;
  try {
    if (remoteDir) remote = await fetchAll(urls, remoteDir, dest);
    await withSource(async (source) => {
      const plans: Array<{ root: RootDir; plan: CopyPlan }> = [];
      const sums: string[] = [];
      try {
        const several = srcWords.length > 1;
        if (localWords.length) {
          const sources = await findSources(source, localWords, keyword);
          plans.push({
            root: source,
            plan: { keyword, sources, dest, several, ...(chown !== undefined ? { chown } : {}) },
          });
          sums.push(await checksumSources(source, sources));
        }
        if (remote) {
          const fetched = remote.root;
          const sources = await findSources(fetched, remote.names, keyword);
          plans.push({
            root: fetched,
            plan: { keyword, sources, dest, several, remote: true, ...(chown !== undefined ? { chown } : {}) },
          });
          sums.push(await checksumSources(fetched, sources));
        }
      } catch (e) {
        throw new BuildError((e as Error).message);
      }
      const sum = sums.length === 1 ? sums[0] : sha256Digest(sums.join('\n')).slice('sha256:'.length);
      const first = plans[0].plan.sources;
      const kind = srcWords.length > 1 || first.length > 1 ? 'multi' : first[0].stat.isDirectory() ? 'dir' : 'file';
      const chownFlag = chown !== undefined ? `--chown=${chown} ` : '';
      const step: StepImage = {
        ...(st.imageId ? { parentId: st.imageId } : {}),
        ...(st.author ? { author: st.author } : {}),
        config: st.config,
        createdBy: `/bin/sh -c #(nop) ${keyword} ${chownFlag}${kind}:${sum} in ${dest} `,
        stepCmd: ['/bin/sh', '-c', `#(nop) ${keyword} ${chownFlag}${kind}:${sum} in ${dest} `],
      };
      const hit = host.cached(step.parentId, step.createdBy);
      if (hit) return host.finish(st, step, hit);
      let id: string;
      try {
        id = await host.backend.write(step, async (target) => {
          for (const p of plans) await writeCopy(p.root, target, p.plan);
        });
      } catch (e) {
        if (e instanceof InvalidArgumentError) throw new BuildError(e.message);
        throw e;
      }
      await host.finish(st, step, id);
    });
  } finally {
    await remote?.root.close();
    if (remoteDir) await fs.promises.rm(remoteDir, { recursive: true, force: true });
  }
}
