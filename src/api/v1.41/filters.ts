/**
 * The `filters` query parameter of list and prune endpoints, in both encodings dockerd
 * accepts: the current map of arrays (`{"label":["a=b"]}`) and the legacy map of booleans
 * (`{"label":{"a=b":true}}`). Unknown filter names get dockerd's 400.
 */
import { InvalidArgumentError } from '../../errors';

/** Filter name -> values. */
export type Filters = Record<string, string[]>;

/** Parse `filters`; `allowed` lists the names the endpoint knows. */
export function parseFilters(raw: string | undefined, allowed: string[]): Filters {
  if (raw === undefined || raw === '') return {};
  let v: unknown;
  try {
    v = JSON.parse(raw);
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message);
  }
  if (v === null) return {};
  if (typeof v !== 'object' || Array.isArray(v)) throw new InvalidArgumentError('invalid filter format: expected a JSON object');
  const out: Filters = {};
  for (const [name, values] of Object.entries(v as Record<string, unknown>)) {
    if (!allowed.includes(name)) throw new InvalidArgumentError(`invalid filter '${name}'`);
    if (Array.isArray(values)) {
      out[name] = values.map((x) => String(x));
    } else if (values && typeof values === 'object') {
      out[name] = Object.entries(values as Record<string, unknown>)
        .filter(([, on]) => on === true)
        .map(([k]) => k);
    } else {
      throw new InvalidArgumentError(`invalid filter '${name}': values must be a list`);
    }
  }
  return out;
}
