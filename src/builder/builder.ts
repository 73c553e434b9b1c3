/**
 * The classic builder: a parsed Dockerfile built stage by stage up to the target, one image
 * per step (dockerd's classic builder makes the same chain), with its output stream:
 * `Step N/M : ...`, ` ---> Running in ...`, the RUN output, ` ---> <id>`, `Successfully
 * built`, `Successfully tagged`. Each step first asks the cache (./cache.ts) for an image
 * with the same parent and history text; a hit runs nothing.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { ImageConfig } from '../storage/types';
import type { BuildBackend, StepImage } from './backend';
import type { BuildCache } from './cache';
import type { Instruction, ParsedDockerfile, Stage } from '../dockerfile/parse';
import { cacheKey } from './cache';
import { applyConfigInstruction, CONFIG_INSTRUCTIONS, envLookup, type RunConfig } from '../dockerfile/instructions';
import { parseInstructions } from '../dockerfile/parse';
import { expandWord, expandWords, parseKeyValues } from '../dockerfile/words';
import { findSources, checksumSources } from './sources';
import { writeCopy, type CopyPlan } from './copy';
import { RootDir } from '../storage/archive/resolve';
import { sha256Digest, shortId } from '../storage/digest';
import { download, isUrl } from './remote';
import { InvalidArgumentError } from '../errors';

/** Build options (the query of POST /build). */
export interface BuildOptions {
  tags: string[];
  quiet: boolean;
  noCache: boolean;
  /** Remove the step containers after a successful step (default true). */
  rm: boolean;
  /** Remove them after a failed one too. */
  forceRm: boolean;
  pull: boolean;
  buildArgs: Record<string, string | null>;
  labels: Record<string, string>;
  target?: string;
  /**
   * `--squash` (a daemon in experimental mode only): the built image's layers above its last
   * stage's base become one, and that image is the one tagged (dockerd's order of messages).
   */
  squash?: boolean;
  /**
   * `--cache-from`: when given, a step may reuse only these images (the named images and
   * their parents, as dockerd's classic builder's isParent walk finds them); a name that is
   * no local image adds nothing, so only unknown names mean no cache at all.
   */
  cacheSources?: ReadonlySet<string>;
  /**
   * Aborted when the client went away: as dockerd's classic builder, the build stops before
   * its next step ("Build cancelled") and a RUN step's container is killed and removed.
   */
  signal?: AbortSignal;
}

/** One message of the build's output stream. */
export type BuildMessage =
  | { stream: string }
  | { aux: { ID: string } }
  | { id: 'moby.image.id'; aux: { ID: string } }
  | { status: string };

/** A build that failed: dockerd's message, and the exit code of a failing RUN. */
export class BuildError extends Error {
  constructor(
    message: string,
    readonly code?: number,
  ) {
    super(message);
  }
}

const PROXY_ARGS = new Set([
  'HTTP_PROXY',
  'http_proxy',
  'HTTPS_PROXY',
  'https_proxy',
  'FTP_PROXY',
  'ftp_proxy',
  'NO_PROXY',
  'no_proxy',
  'ALL_PROXY',
  'all_proxy',
]);
const DEFAULT_SHELL = ['/bin/sh', '-c'];
const DEFAULT_PATH = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** The state of the stage being built. */
interface StageState {
  imageId?: string;
  config: RunConfig;
  /** Build args declared in this stage and their values. */
  args: Map<string, string | undefined>;
  cmdSet: { value: boolean };
  /** MAINTAINER's value, the author of this stage's images from then on. */
  author?: string;
}

/** Builds one Dockerfile (see the module comment). */
export class Builder {
  private step = 0;
  private total = 0;
  private readonly usedArgs = new Set<string>();
  private readonly stageImages = new Map<string, string>();
  /** The base image of the last stage built (what a squash keeps); undefined for scratch. */
  private lastBase?: string;

  constructor(
    private readonly backend: BuildBackend,
    private readonly cache: BuildCache,
    private readonly contextDir: string,
    private readonly opts: BuildOptions,
    private readonly emit: (m: BuildMessage) => void,
  ) {}

  /** What a quiet build held back: dockerd sends it only when the build fails. */
  private readonly held: BuildMessage[] = [];

  private out(m: BuildMessage): void {
    if (this.opts.quiet) this.held.push(m);
    else this.emit(m);
  }

  private say(text: string): void {
    this.out({ stream: text });
  }

  /**
   * Build `df`; resolves with the final image ID. A quiet build sends only the ID, and on
   * failure everything it held back, then rejects (as dockerd's quiet mode does).
   */
  async build(df: ParsedDockerfile): Promise<string> {
    try {
      return await this.buildAll(df);
    } catch (e) {
      for (const m of this.held.splice(0)) this.emit(m);
      throw e;
    }
  }

  private async buildAll(df: ParsedDockerfile): Promise<string> {
    let stages = df.stages;
    if (this.opts.target) {
      const i = stages.findIndex((s) => s.name === this.opts.target?.toLowerCase());
      if (i < 0) throw new BuildError(`failed to reach build target ${this.opts.target} in Dockerfile`);
      stages = stages.slice(0, i + 1);
    }
    const labels = Object.entries(this.opts.labels);
    if (labels.length) {
      const args = labels.map(([k, v]) => `${JSON.stringify(k)}=${JSON.stringify(v)}`).join(' ');
      const last = stages[stages.length - 1];
      stages = [
        ...stages.slice(0, -1),
        {
          ...last,
          instructions: [
            ...last.instructions,
            { keyword: 'LABEL', args, flags: {}, original: `LABEL ${args}`, line: 0 },
          ],
        },
      ];
    }
    this.total = stages.reduce((n, s) => n + 1 + s.instructions.length, 0);
    const meta = new Map<string, string | undefined>();
    for (const a of df.metaArgs) {
      for (const [k, v] of this.argPairs(a, df.escape, (n) => meta.get(n))) meta.set(k, this.argValue(k, v));
    }
    let last: string | undefined;
    for (const stage of stages) {
      last = await this.buildStage(stage, df.escape, meta);
      if (stage.name) this.stageImages.set(stage.name, last);
      this.stageImages.set(String(stage.index), last);
    }
    const built = last as string;
    const unused = Object.keys(this.opts.buildArgs).filter(
      (a) => !this.usedArgs.has(a) && !PROXY_ARGS.has(a) && !meta.has(a),
    );
    if (unused.length) this.say(`[Warning] One or more build-args [${unused.sort().join(' ')}] were not consumed\n`);
    this.out({ aux: { ID: built } });
    let id = built;
    if (this.opts.squash) {
      try {
        id = await this.backend.squash(built, this.lastBase);
      } catch (e) {
        throw new BuildError(`error squashing image: ${(e as Error).message}`);
      }
      this.out({ id: 'moby.image.id', aux: { ID: id } });
    }
    if (this.opts.quiet) this.emit({ stream: `${id}\n` });
    this.say(`Successfully built ${shortId(id)}\n`);
    await this.backend.tag(id, this.opts.tags);
    for (const t of this.opts.tags) this.say(`Successfully tagged ${/:[^/]*$/.test(t) ? t : `${t}:latest`}\n`);
    return id;
  }

  private argPairs(
    ins: Instruction,
    escape: string,
    lookup: (n: string) => string | undefined,
  ): Array<[string, string | undefined]> {
    const out: Array<[string, string | undefined]> = [];
    for (const w of ins.args.split(/\s+/).filter(Boolean)) {
      if (!w.includes('=')) out.push([w, undefined]);
      else out.push(...parseKeyValues(w, lookup, escape, 'ARG', false));
    }
    if (out.length === 0) throw new BuildError('ARG requires exactly one argument');
    return out;
  }

  /** Stop here when the client went away (dockerd says so on the stream it no longer reads). */
  private checkCancelled(): void {
    if (!this.opts.signal?.aborted) return;
    this.say('Build cancelled\n');
    throw new BuildError('Build cancelled');
  }

  /** A build arg's value: --build-arg wins over the default. */
  private argValue(name: string, dflt: string | undefined): string | undefined {
    if (Object.prototype.hasOwnProperty.call(this.opts.buildArgs, name)) {
      this.usedArgs.add(name);
      const v = this.opts.buildArgs[name];
      return v === null ? dflt : v;
    }
    return dflt;
  }

  private header(ins: Instruction): void {
    this.checkCancelled();
    this.step++;
    // dockerd sends the line and its newline as two messages.
    this.say(`Step ${this.step}/${this.total} : ${ins.original}`);
    this.say('\n');
  }

  private async buildStage(stage: Stage, escape: string, meta: Map<string, string | undefined>): Promise<string> {
    this.header(stage.fromInstruction);
    const base = expandWord(stage.from, (n) => meta.get(n), escape);
    const st: StageState = { config: {}, args: new Map(), cmdSet: { value: false } };
    this.lastBase = undefined;
    if (base.toLowerCase() !== 'scratch') {
      const fromStage = this.stageImages.get(base.toLowerCase());
      const img = fromStage
        ? { id: fromStage, config: (this.backend.findImage(fromStage) as { config: ImageConfig }).config }
        : await this.baseImage(base);
      st.imageId = img.id;
      this.lastBase = img.id;
      st.config = JSON.parse(JSON.stringify(img.config.config ?? {})) as RunConfig;
      this.say(` ---> ${shortId(img.id)}\n`);
    } else {
      // dockerd's answer for scratch: no image yet, and the default PATH.
      st.config = { Env: [DEFAULT_PATH] };
      this.say(' ---> \n');
    }
    const triggers = st.config.OnBuild ?? [];
    if (triggers.length) {
      this.say(`# Executing ${triggers.length} build trigger${triggers.length > 1 ? 's' : ''}\n`);
      st.config.OnBuild = null;
      for (const t of triggers) {
        const ins = parseInstructions(t).instructions[0];
        if (ins) await this.dispatch(ins, st, escape, meta);
      }
    }
    for (const ins of stage.instructions) {
      this.header(ins);
      await this.dispatch(ins, st, escape, meta);
    }
    if (!st.imageId) throw new BuildError('No image was generated. Is your Dockerfile empty?');
    return st.imageId;
  }

  private async baseImage(ref: string): Promise<{ id: string; config: ImageConfig }> {
    const local = this.opts.pull ? undefined : this.backend.findImage(ref, true);
    if (local) return local;
    try {
      return await this.backend.pullImage(ref, (line) => this.out({ status: line }));
    } catch (e) {
      const found = this.backend.findImage(ref);
      if (found && this.opts.pull) return found;
      throw e;
    }
  }

  /** Variables for expansion: the config's Env over the stage's build args. */
  private lookup(st: StageState): (n: string) => string | undefined {
    const env = envLookup(st.config.Env);
    return (n) => env(n) ?? (st.args.has(n) ? st.args.get(n) : undefined);
  }

  private async dispatch(
    ins: Instruction,
    st: StageState,
    escape: string,
    meta: Map<string, string | undefined>,
  ): Promise<void> {
    const ctx = { escape, lookup: this.lookup(st), shell: st.config.Shell ?? DEFAULT_SHELL, cmdSet: st.cmdSet };
    if (ins.keyword === 'ARG') {
      const pairs = this.argPairs(ins, escape, ctx.lookup);
      for (const [k, v] of pairs) st.args.set(k, this.argValue(k, v ?? meta.get(k)));
      const text = `ARG ${pairs.map(([k, v]) => (v === undefined ? k : `${k}=${v}`)).join(' ')}`;
      return this.configStep(st, { ...st.config }, text);
    }
    if (CONFIG_INSTRUCTIONS.has(ins.keyword)) {
      const config = JSON.parse(JSON.stringify(st.config)) as RunConfig;
      let text: string;
      try {
        text = applyConfigInstruction(ins, config, ctx, (a) => (st.author = a));
      } catch (e) {
        throw new BuildError((e as Error).message);
      }
      return this.configStep(st, config, text);
    }
    if (ins.keyword === 'RUN') return this.runStep(ins, st, ctx.shell);
    if (ins.keyword === 'COPY' || ins.keyword === 'ADD') return this.copyStep(ins, st, escape);
    throw new BuildError(`Unknown instruction: ${ins.keyword}`);
  }

  /** The cached image for a step, printed as dockerd prints a hit. */
  private cached(parent: string | undefined, createdBy: string): string | undefined {
    if (this.opts.noCache) return undefined;
    const sources = this.opts.cacheSources;
    const hit = this.cache.get(
      cacheKey(parent, createdBy),
      (id) => (!sources || sources.has(id)) && this.backend.findImage(id) !== undefined,
    );
    if (hit) this.say(' ---> Using cache\n');
    return hit;
  }

  private async finish(st: StageState, step: StepImage, id: string): Promise<void> {
    await this.cache.set(cacheKey(step.parentId, step.createdBy), id);
    st.imageId = id;
    st.config = step.config;
    this.say(` ---> ${shortId(id)}\n`);
  }

  /**
   * A step that changes only the config. dockerd still creates a container for it (never
   * started), with the shell and `#(nop) <instruction>` as its command, and removes it as it
   * removes a RUN step's; so does podvisor, so the stream and `docker ps -a` after a
   * `--rm=false` build read the same.
   */
  private async configStep(st: StageState, config: RunConfig, text: string): Promise<void> {
    const step: StepImage = {
      ...(st.imageId ? { parentId: st.imageId } : {}),
      ...(st.author ? { author: st.author } : {}),
      config,
      createdBy: `/bin/sh -c #(nop) ${text.startsWith('WORKDIR ') ? '' : ' '}${text}`,
    };
    const hit = this.cached(step.parentId, step.createdBy);
    if (hit) return this.finish(st, step, hit);
    const containerId = await this.backend.createStep(step, [...(st.config.Shell ?? DEFAULT_SHELL), '#(nop) ', text]);
    this.say(` ---> Running in ${containerId.slice(0, 12)}\n`);
    const id = await this.backend.configImage(step);
    await this.removeStep(containerId);
    await this.finish(st, step, id);
  }

  /** Remove a step's container after it succeeded, as `rm` (default) or `forcerm` ask. */
  private async removeStep(containerId: string): Promise<void> {
    if (!this.opts.rm && !this.opts.forceRm) return;
    await this.backend.removeContainer(containerId);
    this.say(`Removing intermediate container ${containerId.slice(0, 12)}\n`);
  }

  private async runStep(ins: Instruction, st: StageState, shell: string[]): Promise<void> {
    const cmd = ins.json ?? [...shell, ins.args];
    const argEnv = [...st.args]
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => `${k}=${v}`)
      .sort();
    const proxyEnv = Object.entries(this.opts.buildArgs)
      .filter(([k, v]) => PROXY_ARGS.has(k) && v !== null && !st.args.has(k))
      .map(([k, v]) => `${k}=${v}`);
    const prefix = argEnv.length ? `|${argEnv.length} ${argEnv.join(' ')} ` : '';
    const step: StepImage = {
      ...(st.imageId ? { parentId: st.imageId } : {}),
      ...(st.author ? { author: st.author } : {}),
      config: st.config,
      createdBy: `${prefix}${cmd.join(' ')}`,
    };
    const hit = this.cached(step.parentId, step.createdBy);
    if (hit) return this.finish(st, step, hit);
    const env = [...(st.config.Env ?? [])];
    for (const e of [...argEnv, ...proxyEnv]) if (!env.some((x) => x.split('=')[0] === e.split('=')[0])) env.push(e);
    let containerId: string | undefined;
    let ok = false;
    try {
      const res = await this.backend.run(
        step,
        cmd,
        env,
        (id) => {
          containerId = id;
          this.say(` ---> Running in ${id.slice(0, 12)}\n`);
        },
        (chunk, stream) =>
          this.say(stream === 'stderr' ? `\x1b[91m${chunk.toString('utf8')}\x1b[0m` : chunk.toString('utf8')),
        this.opts.signal,
      );
      if (this.opts.signal?.aborted) {
        // The backend killed it; dockerd removes a cancelled step's container whatever rm says.
        await this.backend.removeContainer(res.containerId).catch(() => undefined);
        containerId = undefined;
        this.checkCancelled();
      }
      if (res.exitCode !== 0)
        throw new BuildError(`The command '${cmd.join(' ')}' returned a non-zero code: ${res.exitCode}`, res.exitCode);
      const id = await this.backend.commit(res.containerId, step);
      ok = true;
      await this.removeStep(res.containerId);
      await this.finish(st, step, id);
    } finally {
      // dockerd keeps a failed step's container, unless forcerm, which removes it and says so.
      if (!ok && containerId && this.opts.forceRm) {
        await this.backend.removeContainer(containerId).catch(() => undefined);
        this.say(`Removing intermediate container ${containerId.slice(0, 12)}\n`);
      }
    }
  }

  /** Fetch every URL of an ADD into `dir`; its root and the files' names there. */
  private async fetchAll(urls: string[], dir: string, dest: string): Promise<{ root: RootDir; names: string[] }> {
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

  private async copyStep(ins: Instruction, st: StageState, escape: string): Promise<void> {
    const keyword = ins.keyword as 'COPY' | 'ADD';
    for (const f of Object.keys(ins.flags))
      if (f !== 'chown' && (f !== 'from' || keyword === 'ADD')) throw new BuildError(`Unknown flag: ${f}`);
    const words = ins.json ?? expandWords(ins.args, this.lookup(st), escape);
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
    const chown = ins.flags.chown !== undefined ? expandWord(ins.flags.chown, this.lookup(st), escape) : undefined;
    const from = ins.flags.from;
    const withSource = async <T>(fn: (root: RootDir) => Promise<T>): Promise<T> => {
      if (from === undefined) {
        const root = await RootDir.open(this.contextDir);
        try {
          return await fn(root);
        } finally {
          await root.close();
        }
      }
      const stageImage = this.stageImages.get(from.toLowerCase()) ?? (await this.baseImage(from)).id;
      return this.backend.readImage(stageImage, fn);
    };
    // URLs are fetched on every build, as dockerd does: the cache keys on what they hold.
    const remoteDir = urls.length
      ? await fs.promises.mkdtemp(path.join(path.dirname(this.contextDir), 'remote-'))
      : undefined;
    let remote: { root: RootDir; names: string[] } | undefined;
    try {
      if (remoteDir) remote = await this.fetchAll(urls, remoteDir, dest);
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
        const step: StepImage = {
          ...(st.imageId ? { parentId: st.imageId } : {}),
          ...(st.author ? { author: st.author } : {}),
          config: st.config,
          createdBy: `/bin/sh -c #(nop) ${keyword} ${chown !== undefined ? `--chown=${chown} ` : ''}${kind}:${sum} in ${dest} `,
        };
        const hit = this.cached(step.parentId, step.createdBy);
        if (hit) return this.finish(st, step, hit);
        let id: string;
        try {
          id = await this.backend.write(step, async (target) => {
            for (const p of plans) await writeCopy(p.root, target, p.plan);
          });
        } catch (e) {
          if (e instanceof InvalidArgumentError) throw new BuildError(e.message);
          throw e;
        }
        await this.finish(st, step, id);
      });
    } finally {
      await remote?.root.close();
      if (remoteDir) await fs.promises.rm(remoteDir, { recursive: true, force: true });
    }
  }
}
