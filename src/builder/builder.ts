/**
 * The classic builder: a parsed Dockerfile built stage by stage up to the target, one image
 * per step (dockerd's classic builder makes the same chain), with its output stream:
 * `Step N/M : ...`, ` ---> Running in ...`, the RUN output, ` ---> <id>`, `Successfully
 * built`, `Successfully tagged`. Each step first asks the cache (./cache.ts) for an image
 * with the same parent and history text; a hit runs nothing.
 *
 * This module walks the stages and build args and makes the config-only steps; RUN is
 * ./run-step.ts, COPY and ADD ./copy-step.ts, both through the host of ./stage.ts. The
 * options, messages and error of a build are ./options.ts.
 */
import type { ImageConfig } from '../storage/types';
import type { BuildBackend, StepImage } from './backend';
import type { BuildCache } from './cache';
import type { Instruction, ParsedDockerfile, Stage } from '../dockerfile/parse';
import { cacheKey } from './cache';
import { applyConfigInstruction, CONFIG_INSTRUCTIONS, envLookup, type RunConfig } from '../dockerfile/instructions';
import { parseInstructions } from '../dockerfile/parse';
import { expandWord, parseKeyValues } from '../dockerfile/words';
import { shortId } from '../storage/digest';
import { copyStep } from './copy-step';
import { BuildError, PROXY_ARGS, type BuildMessage, type BuildOptions } from './options';
import { runStep } from './run-step';
import { DEFAULT_SHELL, type StageState, type StepHost } from './stage';

export { BuildError, type BuildMessage, type BuildOptions } from './options';

const DEFAULT_PATH = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** Builds one Dockerfile (see the module comment). */
export class Builder {
  private step = 0;
  private total = 0;
  private readonly usedArgs = new Set<string>();
  private readonly stageImages = new Map<string, string>();
  /** The base image of the last stage built (what a squash keeps); undefined for scratch. */
  private lastBase?: string;

  /** What the step modules (./run-step.ts, ./copy-step.ts) work through: this build's own. */
  private readonly host: StepHost;

  constructor(
    private readonly backend: BuildBackend,
    private readonly cache: BuildCache,
    private readonly contextDir: string,
    private readonly opts: BuildOptions,
    private readonly emit: (m: BuildMessage) => void,
  ) {
    this.host = {
      backend: this.backend,
      opts: this.opts,
      contextDir: this.contextDir,
      say: (text) => this.say(text),
      cached: (parent, createdBy) => this.cached(parent, createdBy),
      finish: (st, step, id) => this.finish(st, step, id),
      removeStep: (containerId) => this.removeStep(containerId),
      checkCancelled: () => this.checkCancelled(),
      lookup: (st) => this.lookup(st),
      imageOf: async (from) => this.stageImages.get(from.toLowerCase()) ?? (await this.baseImage(from)).id,
    };
  }

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
    if (ins.keyword === 'RUN') return runStep(this.host, ins, st, ctx.shell);
    if (ins.keyword === 'COPY' || ins.keyword === 'ADD') return copyStep(this.host, ins, st, escape);
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
      stepCmd: [...(st.config.Shell ?? DEFAULT_SHELL), '#(nop) ', text],
    };
    const hit = this.cached(step.parentId, step.createdBy);
    if (hit) return this.finish(st, step, hit);
    const containerId = await this.backend.createStep(step, step.stepCmd!);
    this.say(` ---> Running in ${containerId.slice(0, 12)}\n`);
    const id = await this.backend.configImage(step, containerId);
    await this.removeStep(containerId);
    await this.finish(st, step, id);
  }

  /** Remove a step's container after it succeeded, as `rm` (default) or `forcerm` ask. */
  private async removeStep(containerId: string): Promise<void> {
    if (!this.opts.rm && !this.opts.forceRm) return;
    await this.backend.removeContainer(containerId);
    this.say(`Removing intermediate container ${containerId.slice(0, 12)}\n`);
  }
}
