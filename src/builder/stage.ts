/**
 * What the classic builder's steps share: the state of the stage being built, and the host a
 * step module (./run-step.ts, ./copy-step.ts) works through: the backend, the build's options,
 * its output, the step cache, and the end of a step.
 */
import type { RunConfig } from '../dockerfile/instructions';
import type { BuildBackend, StepImage } from './backend';
import type { BuildOptions } from './options';

/** The shell of RUN's shell form, and of config steps' commands, unless SHELL changes it. */
export const DEFAULT_SHELL = ['/bin/sh', '-c'];

/** The state of the stage being built. */
export interface StageState {
  imageId?: string;
  config: RunConfig;
  /** Build args declared in this stage and their values. */
  args: Map<string, string | undefined>;
  cmdSet: { value: boolean };
  /** MAINTAINER's value, the author of this stage's images from then on. */
  author?: string;
}

/** What a step module is given by the Builder (./builder.ts), which owns all of it. */
export interface StepHost {
  readonly backend: BuildBackend;
  readonly opts: BuildOptions;
  /** The build context's directory (COPY's and ADD's sources). */
  readonly contextDir: string;
  /** Write a line of the build's output stream. */
  say(text: string): void;
  /** The cached image of a step (printed as dockerd prints a hit), unless --no-cache. */
  cached(parent: string | undefined, createdBy: string): string | undefined;
  /** End a step: cache its image and make it the stage's. */
  finish(st: StageState, step: StepImage, id: string): Promise<void>;
  /** Remove a step's container after it succeeded, as `rm` (default) or `forcerm` ask. */
  removeStep(containerId: string): Promise<void>;
  /** Throw "Build cancelled" (and say so) when the client went away. */
  checkCancelled(): void;
  /** Variables for expansion: the config's Env over the stage's build args. */
  lookup(st: StageState): (n: string) => string | undefined;
  /** The image of COPY --from: an earlier stage by name or index, else an image (pulled if need be). */
  imageOf(from: string): Promise<string>;
}
