/**
 * The `filters` query parameter and its matchers, with dockerd's rules (api/types/filters).
 * Every route that filters uses these, so that the same filter means the same thing on every
 * route: one parser, one label matcher, one boolean filter.
 */
import { InvalidArgumentError } from '../../../errors';

/** A filters map: name -> values. */
export type FilterMap = Record<string, string[]>;

/**
 * The `filters` parameter in both encodings dockerd accepts (`{"a":["x"]}` and the legacy
 * `{"a":{"x":true}}`); names outside `allowed` get dockerd's "Invalid filter 'x'".
 */
export function parseFilterParam(raw: string, allowed: readonly string[]): FilterMap {
  if (raw === '') return {};
  let v: unknown;
  try {
    v = JSON.parse(raw);
  } catch (err) {
    throw new InvalidArgumentError(`invalid filters: ${(err as Error).message}`);
  }
  if (v === null) return {};
  if (typeof v !== 'object' || Array.isArray(v))
    throw new InvalidArgumentError('invalid filters: expected a JSON object');
  const out: FilterMap = {};
  for (const [k, val] of Object.entries(v as Record<string, unknown>)) {
    if (!allowed.includes(k)) throw new InvalidArgumentError(`Invalid filter '${k}'`);
    if (Array.isArray(val)) out[k] = val.map(String);
    else if (val && typeof val === 'object')
      out[k] = Object.entries(val as Record<string, unknown>)
        .filter(([, on]) => on === true)
        .map(([x]) => x);
    else throw new InvalidArgumentError(`invalid filters: values of '${k}' must be a list`);
  }
  return out;
}

/**
 * dockerd's `Invalid filter 'name=[v1 v2]'` for a filter whose values it cannot use (the
 * values as Go prints a string slice).
 */
export function invalidFilter(name: string, values: readonly string[]): InvalidArgumentError {
  return new InvalidArgumentError(`Invalid filter '${name}=[${values.join(' ')}]'`);
}

/**
 * filters.Args.MatchKVList: every wanted `key` must be a label and every `key=value` must
 * have that value (the values of one filter are AND'ed). An empty `wanted` matches anything.
 * Only the object's own keys count (`label=constructor` does not match every object).
 */
export function labelsMatch(
  labels: Readonly<Record<string, string>> | null | undefined,
  wanted: readonly string[],
): boolean {
  if (wanted.length === 0) return true;
  if (!labels) return false;
  return wanted.every((w) => {
    const i = w.indexOf('=');
    const key = i < 0 ? w : w.slice(0, i);
    if (!Object.prototype.hasOwnProperty.call(labels, key)) return false;
    return i < 0 || labels[key] === w.slice(i + 1);
  });
}

/**
 * The `label` and `label!` filters of the prune routes (dockerd's matchLabels): every `label`
 * must match, and the object is kept out when every `label!` matches it.
 */
export function pruneLabelsMatch(labels: Readonly<Record<string, string>> | null | undefined, f: FilterMap): boolean {
  if (!labelsMatch(labels, f.label ?? [])) return false;
  const not = f['label!'] ?? [];
  return !(not.length > 0 && labelsMatch(labels, not));
}

/**
 * A boolean filter read with filters.Args.ExactMatch, as dockerd reads `dangling`: the first
 * word of `words` (tried in order) that is among the values gives the answer; values but no
 * known word: dockerd's "Invalid filter"; absent: undefined. The words are exact (`TRUE` is
 * not `true`), and each route has its own list: `GET /images/json` knows `true` and `false`,
 * `POST /images/prune` also `1` and `0`, and tries `false` first.
 */
export function exactBoolFilter(
  f: FilterMap,
  name: string,
  words: ReadonlyArray<readonly [string, boolean]>,
): boolean | undefined {
  const values = f[name];
  if (!values?.length) return undefined;
  for (const [word, value] of words) if (values.includes(word)) return value;
  throw invalidFilter(name, values);
}

/**
 * A filter value read as Go's regexp would read it, in JavaScript's syntax; undefined where Go
 * would refuse it (RE2 has no lookaround and no backreferences). Go's leading `(?flags)` become
 * JavaScript flags, `(?P<name>` a named group, `\A` and `\z` the ends of the text.
 */
export function goRegExp(pattern: string): RegExp | undefined {
  let src = pattern;
  let flags = '';
  const lead = /^\(\?([imsU]+)\)/.exec(src);
  if (lead) {
    if (lead[1].includes('U')) return undefined;
    flags = [...new Set(lead[1])].join('');
    src = src.slice(lead[0].length);
  }
  if (/\(\?<?[=!]|\\[1-9]|\\k</.test(src)) return undefined;
  src = src
    .replace(/\(\?P</g, '(?<')
    .replace(/\\A/g, '^')
    .replace(/\\z/g, '$');
  try {
    return new RegExp(src, flags);
  } catch {
    return undefined;
  }
}

/**
 * filters.Args.Match, dockerd's rule for `name` (containers, networks, volumes), a network's
 * `id` and a container's `isolation`: no values match anything; otherwise `source` matches when
 * it equals a value, or a value read as a regular expression (unanchored: `web` finds
 * `myweb_1`, `^web$` only `web`) matches it. A value that is not a valid expression matches
 * only exactly.
 */
export function filterMatch(values: readonly string[] | undefined, source: string): boolean {
  if (!values || values.length === 0) return true;
  if (values.includes(source)) return true;
  return values.some((v) => goRegExp(v)?.test(source) ?? false);
}
