/**
 * Small readers of the native API's inputs: query flags, numbers and body fields, each
 * refusing a wrong type with a message that names the field.
 */
import { InvalidArgumentError } from '../../errors';

/** A query flag: absent/""/0/false = false, 1/true = true. */
export function flag(q: unknown, name: string): boolean {
  if (q === undefined || q === '' || q === '0' || q === 'false') return false;
  if (q === '1' || q === 'true') return true;
  throw new InvalidArgumentError(`query parameter ${name} must be true or false`);
}

/** The request body as an object ({} when empty). */
export function bodyOf(b: unknown): Record<string, unknown> {
  if (b === undefined || b === null) return {};
  if (typeof b !== 'object' || Array.isArray(b))
    throw new InvalidArgumentError('the request body must be a JSON object');
  return b as Record<string, unknown>;
}

/** An optional string field of a body. */
export function optString(b: Record<string, unknown>, name: string): string | undefined {
  const v = b[name];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string' || !v) throw new InvalidArgumentError(`field "${name}" must be a non-empty string`);
  return v;
}

/** An optional boolean field of a body. */
export function optBool(b: Record<string, unknown>, name: string): boolean {
  const v = b[name];
  if (v === undefined || v === null) return false;
  if (typeof v !== 'boolean') throw new InvalidArgumentError(`field "${name}" must be true or false`);
  return v;
}

/** An optional integer field of a body (within [min, max]). */
export function optInt(b: Record<string, unknown>, name: string, min: number, max: number): number | undefined {
  const v = b[name];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max)
    throw new InvalidArgumentError(`field "${name}" must be an integer from ${min} to ${max}`);
  return v;
}

/** Only the fields `known` may be present. */
export function onlyFields(b: Record<string, unknown>, known: string[]): void {
  for (const k of Object.keys(b))
    if (!known.includes(k)) throw new InvalidArgumentError(`unknown field "${k}" (known: ${known.join(', ')})`);
}
