/**
 * A container's name, for every front: Docker's rule (a letter or digit, then at least one of
 * letters, digits, `_`, `.` and `-`), with or without the leading '/' dockerd keeps; refused
 * with dockerd's words (400).
 */
import { InvalidArgumentError } from '../../../errors';

/** `name` without its leading '/', checked (see the module comment); throws InvalidArgumentError. */
export function validateContainerName(name: string): string {
  if (!/^\/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$/.test(name)) {
    throw new InvalidArgumentError(`Invalid container name (${name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`);
  }
  return name.replace(/^\//, '');
}
