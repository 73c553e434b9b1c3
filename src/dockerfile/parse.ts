/**
 * Dockerfiles parsed with `dockerfile-ast` (line continuations, comments, the `escape`
 * parser directive, flags), into the plain instruction list the builder walks, grouped in
 * stages. Argument words are left raw here: which instructions expand variables, and when,
 * is the evaluators' business (./instructions.ts), as in dockerd.
 */
import { lazyModule } from '../util/lazy-module';
import { InvalidArgumentError } from '../errors';

/** dockerfile-ast, loaded at the first build rather than with the daemon (~12 ms of its start). */
const dockerfileAst = lazyModule<typeof import('dockerfile-ast')>('dockerfile-ast');

/** One instruction. */
export interface Instruction {
  /** Upper-case keyword (`RUN`). */
  keyword: string;
  /** The arguments after the flags, continuations folded. */
  args: string;
  /** `--name=value` flags. */
  flags: Record<string, string>;
  /** The JSON (exec) form's strings, when the arguments are a JSON array of strings. */
  json?: string[];
  /** The instruction as written, continuations folded (for the `Step N/M :` line). */
  original: string;
  /** 1-based line. */
  line: number;
}

/** A stage: its FROM and what follows it. */
export interface Stage {
  /** Index of the stage (0 first). */
  index: number;
  /** The base image as written (variables not expanded). */
  from: string;
  /** `AS name`, lower-cased, when given. */
  name?: string;
  /** FROM's flags (`--platform`). */
  fromFlags: Record<string, string>;
  fromInstruction: Instruction;
  instructions: Instruction[];
}

/** A parsed Dockerfile. */
export interface ParsedDockerfile {
  escape: string;
  /** ARGs before the first FROM (usable in FROM lines). */
  metaArgs: Instruction[];
  stages: Stage[];
}

const KNOWN = new Set([
  'ADD',
  'ARG',
  'CMD',
  'COPY',
  'ENTRYPOINT',
  'ENV',
  'EXPOSE',
  'FROM',
  'HEALTHCHECK',
  'LABEL',
  'MAINTAINER',
  'ONBUILD',
  'RUN',
  'SHELL',
  'STOPSIGNAL',
  'USER',
  'VOLUME',
  'WORKDIR',
]);

/** The strings of a JSON array of strings, or undefined when `s` is not one. */
export function jsonForm(s: string): string[] | undefined {
  const t = s.trim();
  if (!t.startsWith('[')) return undefined;
  try {
    const v = JSON.parse(t) as unknown;
    if (Array.isArray(v) && v.every((x) => typeof x === 'string')) return v as string[];
  } catch {
    return undefined;
  }
  return undefined;
}

/** Parse instructions only (no stage grouping): for ONBUILD triggers and commit's changes. */
export function parseInstructions(text: string): { escape: string; instructions: Instruction[] } {
  const df = dockerfileAst().DockerfileParser.parse(text);
  const escape = df.getEscapeCharacter();
  const out: Instruction[] = [];
  for (const ins of df.getInstructions()) {
    const keyword = ins.getKeyword().toUpperCase();
    const line = ins.getRange().start.line + 1;
    if (!KNOWN.has(keyword))
      throw new InvalidArgumentError(
        `dockerfile parse error line ${line}: unknown instruction: ${ins.getInstruction().toUpperCase()}`,
      );
    const flags: Record<string, string> = {};
    const withFlags = ins as unknown as { getFlags?: () => Array<{ getName(): string; getValue(): string | null }> };
    if (typeof withFlags.getFlags === 'function' && keyword !== 'ONBUILD') {
      for (const f of withFlags.getFlags()) flags[f.getName()] = f.getValue() ?? '';
    }
    const args = (ins.getArgumentsContent() ?? '').trim();
    const json = ['RUN', 'CMD', 'ENTRYPOINT', 'SHELL', 'VOLUME', 'COPY', 'ADD', 'HEALTHCHECK'].includes(keyword)
      ? jsonForm(args)
      : undefined;
    const flagText = Object.entries(flags)
      .map(([k, v]) => `--${k}=${v}`)
      .join(' ');
    out.push({
      keyword,
      args,
      flags,
      ...(json ? { json } : {}),
      original: `${ins.getInstruction()} ${flagText ? flagText + ' ' : ''}${args}`.trim(),
      line,
    });
  }
  return { escape, instructions: out };
}

/** Parse a Dockerfile into stages; InvalidArgumentError when it has none or is malformed. */
export function parseDockerfile(text: string): ParsedDockerfile {
  const { escape, instructions } = parseInstructions(text);
  const metaArgs: Instruction[] = [];
  const stages: Stage[] = [];
  for (const ins of instructions) {
    if (ins.keyword === 'FROM') {
      const words = ins.args.split(/\s+/).filter(Boolean);
      if (words.length !== 1 && !(words.length === 3 && words[1].toUpperCase() === 'AS')) {
        throw new InvalidArgumentError(
          `dockerfile parse error line ${ins.line}: FROM requires either one or three arguments`,
        );
      }
      const name = words.length === 3 ? words[2].toLowerCase() : undefined;
      if (name !== undefined && !/^[a-z][a-z0-9-_.]*$/.test(name))
        throw new InvalidArgumentError(
          `invalid name for build stage: "${words[2]}", name can't start with a number or contain symbols`,
        );
      if (name !== undefined && stages.some((s) => s.name === name))
        throw new InvalidArgumentError(`duplicate name ${words[2]}`);
      stages.push({
        index: stages.length,
        from: words[0],
        ...(name ? { name } : {}),
        fromFlags: ins.flags,
        fromInstruction: ins,
        instructions: [],
      });
      continue;
    }
    if (stages.length === 0) {
      if (ins.keyword !== 'ARG')
        throw new InvalidArgumentError('Dockerfile parse error: no build stage in current context');
      metaArgs.push(ins);
      continue;
    }
    stages[stages.length - 1].instructions.push(ins);
  }
  if (stages.length === 0) throw new InvalidArgumentError('the Dockerfile (Dockerfile) cannot be empty');
  return { escape, metaArgs, stages };
}
