/**
 * Query parameters, decoded in ONE place with dockerd's rules (api/server/httputils):
 * - bool: BoolValue: '', '0', 'no', 'false', 'none' (any case) are false, anything else true;
 *   absent gives the parameter's default (BoolValueOrDefault).
 * - int: strconv.Atoi (int64 range), Go's messages ("invalid syntax", "value out of range").
 * - string: the first value when repeated.
 * - filters: filters.FromJSON, both encodings, names checked against the route's list.
 * Each kind is a TypeBox schema annotated with `q`, so a route's query is one Type.Object and
 * its decoded type is `Static<>` of it.
 */
import { Type, type TSchema } from '@sinclair/typebox';
import { InvalidArgumentError } from '../../../errors';
import { parseFilterParam } from '../kit/filters';

type QKind = 'bool' | 'int' | 'string' | 'optstring' | 'strings' | 'filters';
type QOpts = { q?: QKind; allowed?: readonly string[] };

/** Query parameter kinds. */
export const Q = {
  /** BoolValueOrDefault(r, name, dflt). */
  bool: (dflt = false) => Type.Boolean({ q: 'bool', default: dflt }),
  /** strconv.Atoi; undefined when absent or empty. */
  int: () => Type.Optional(Type.Integer({ q: 'int' })),
  /** A plain string; '' when absent. */
  string: () => Type.String({ q: 'string', default: '' }),
  /** A string whose presence matters; undefined when absent. */
  optString: () => Type.Optional(Type.String({ q: 'optstring' })),
  /** Every value of a repeated parameter (`names=a&names=b`), in order; [] when absent. */
  strings: () => Type.Array(Type.String(), { q: 'strings', default: [] }),
  /** filters.FromJSON with the route's filter names. */
  filters: (allowed: readonly string[]) =>
    Type.Record(Type.String(), Type.Array(Type.String()), { q: 'filters', allowed, default: {} }),
};

/** dockerd's httputils.BoolValue for a present value. */
export function boolValue(s: string): boolean {
  const v = s.trim().toLowerCase();
  return !(v === '' || v === '0' || v === 'no' || v === 'false' || v === 'none');
}

/** strconv.Atoi with Go's messages; int64 range. */
export function atoi(s: string): number {
  if (!/^[+-]?\d+$/.test(s))
    throw new InvalidArgumentError(`strconv.Atoi: parsing ${JSON.stringify(s)}: invalid syntax`);
  const n = BigInt(s);
  if (n > 9223372036854775807n || n < -9223372036854775808n)
    throw new InvalidArgumentError(`strconv.Atoi: parsing ${JSON.stringify(s)}: value out of range`);
  return Number(n);
}

function first(v: unknown): string | undefined {
  if (v === undefined) return undefined;
  if (Array.isArray(v)) return v.length ? first(v[0]) : undefined;
  return typeof v === 'string' ? v : String(v);
}

/** Decode one parameter (raw: the query value as express parsed it). */
function decodeParam(raw: unknown, s: TSchema): unknown {
  const o = s as TSchema & QOpts & { default?: unknown };
  const v = first(raw);
  switch (o.q) {
    case 'bool':
      // BoolValueOrDefault: an absent parameter gives the default; a present one BoolValue.
      return v === undefined ? o.default : boolValue(v);
    case 'int':
      return v === undefined || v === '' ? undefined : atoi(v);
    case 'string':
      return v ?? '';
    case 'optstring':
      return v;
    case 'strings':
      return raw === undefined
        ? []
        : (Array.isArray(raw) ? raw : [raw]).map((x) => (typeof x === 'string' ? x : String(x)));
    case 'filters':
      return parseFilterParam(v ?? '', o.allowed ?? []);
    default:
      throw new Error('schema/query: parameter without a q kind');
  }
}

/** Decode a route's query (express's req.query) against its Type.Object of Q kinds. */
export function decodeQuery<T>(schema: TSchema, query: Record<string, unknown>): T {
  const props = (schema as unknown as { properties: Record<string, TSchema> }).properties;
  const out: Record<string, unknown> = {};
  for (const [name, s] of Object.entries(props)) {
    const v = decodeParam(query[name], s);
    if (v !== undefined) out[name] = v;
  }
  return out as T;
}
