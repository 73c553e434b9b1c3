/**
 * `docker commit --change` (and `docker import --change`): Dockerfile instructions applied to
 * a container config, with dockerd's rule on which ones are allowed.
 */
import type { RunConfig } from './instructions';
import { applyConfigInstruction, envLookup } from './instructions';
import { parseInstructions } from './parse';
import { InvalidArgumentError } from '../errors';

/** The instructions a change may use (dockerd's validCommitCommands). */
const ALLOWED = new Set([
  'CMD',
  'ENTRYPOINT',
  'HEALTHCHECK',
  'ENV',
  'EXPOSE',
  'LABEL',
  'ONBUILD',
  'USER',
  'VOLUME',
  'WORKDIR',
]);

/** Apply `changes` (one instruction each) to a copy of `config`; InvalidArgumentError for a bad one. */
export function applyChanges(config: RunConfig, changes: readonly string[]): RunConfig {
  const c: RunConfig = JSON.parse(JSON.stringify(config)) as RunConfig;
  if (changes.length === 0) return c;
  const { escape, instructions } = parseInstructions(changes.join('\n'));
  const cmdSet = { value: false };
  for (const ins of instructions) {
    if (!ALLOWED.has(ins.keyword))
      throw new InvalidArgumentError(`${ins.keyword.toLowerCase()} is not a valid change command`);
    applyConfigInstruction(ins, c, { escape, lookup: envLookup(c.Env), shell: c.Shell ?? ['/bin/sh', '-c'], cmdSet });
  }
  return c;
}
