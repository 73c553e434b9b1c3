/**
 * The Docker words of `POST /commit`: the new image's config (the container's, with the
 * `changes` applied) and the reference `repo`/`tag` name, with dockerd's rules and messages.
 */
import type { DockerConfig } from './docker-types';
import type { RunConfig } from '../../../dockerfile/instructions';
import { applyChanges } from '../../../dockerfile/changes';
import { isValidTag, parseReference, type ImageReference } from '../../../storage/reference';
import { InvalidArgumentError } from '../../../errors';

/** The committed image's config: the container's config with `changes` applied. */
export function commitConfig(container: DockerConfig, changes: readonly string[]): RunConfig {
  const base = JSON.parse(JSON.stringify(container)) as RunConfig & { StopTimeout?: number; ArgsEscaped?: boolean };
  return applyChanges(
    base,
    changes.filter((c) => c.trim() !== ''),
  );
}

/** The references a commit tags: none without `repo`, else repo:tag (`latest` by default). */
export function commitReference(repo: string, tag: string): ImageReference[] {
  if (!repo) return [];
  const ref = parseReference(repo);
  if (ref.digest !== undefined) throw new InvalidArgumentError('refusing to create a tag with a digest reference');
  if (tag !== '' && !isValidTag(tag)) throw new InvalidArgumentError('invalid tag format');
  ref.tag = tag || ref.tag || 'latest';
  return [ref];
}
