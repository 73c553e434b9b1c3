/**
 * Decode a JSON value against a TypeBox schema the way Go's encoding/json decodes into dockerd's
 * structs, so that what a handler gets is exactly the static type of the schema:
 *
 * - field names match case-insensitively (an exact match wins), unknown fields are dropped;
 * - `null` is Go's zero value: the field is left out (pointers stay nil, slices nil);
 * - a wrong type is refused with Go's wording, naming the field:
 *   `json: cannot unmarshal string into Go struct field ContainerConfigWrapper.Env of type []string`;
 * - integers are range-checked against their Go type (`goType` on the schema: int64, uint16...);
 * - the cost is linear in the input, and arrays/strings are bounded (LIMITS).
 *
 * Schemas carry two extra annotations: `goType` (the Go type named in messages) on any node and
 * `goStruct` (the struct name fields are reported under) on objects.
 */
import { Kind, type TSchema } from '@sinclair/typebox';
import { InvalidArgumentError } from '../errors';

/** Explicit input limits (docs/design/api.md, "Request decoding"). The body limit is in params.ts. */
export const LIMITS = {
  /** Most elements in any one JSON array of a body. */
  maxItems: 1 << 18,
  /** Longest string in a body (characters). */
  maxString: 1 << 20,
  /** Most keys in any one JSON object (maps such as Labels). */
  maxKeys: 1 << 18,
};

/** Go integer types and their ranges (as doubles: a body's numbers come through JSON.parse). */
const INT_RANGES: Record<string, [number, number]> = {
  int: [-(2 ** 63), 2 ** 63],
  int64: [-(2 ** 63), 2 ** 63],
  int32: [-(2 ** 31), 2 ** 31 - 1],
  uint: [0, 2 ** 64],
  uint64: [0, 2 ** 64],
  uint32: [0, 2 ** 32 - 1],
  uint16: [0, 65535],
};

type Opts = { goType?: string; goStruct?: string };

function jsonKind(v: unknown): string {
  if (typeof v === 'string') return 'string';
  if (typeof v === 'boolean') return 'bool';
  if (typeof v === 'number') return 'number';
  if (Array.isArray(v)) return 'array';
  return 'object';
}

function goTypeOf(s: TSchema): string {
  const o = s as TSchema & Opts;
  if (o.goType) return o.goType;
  switch (s[Kind]) {
    case 'String':
      return 'string';
    case 'Boolean':
      return 'bool';
    case 'Integer':
      return 'int64';
    case 'Array':
      return `[]${goTypeOf((s as unknown as { items: TSchema }).items)}`;
    case 'Record':
      return 'map[string]string';
    default:
      return o.goStruct ?? 'struct';
  }
}

function refuse(v: unknown, where: string, type: string, literal = false): never {
  const what = literal && typeof v === 'number' ? `number ${String(v)}` : jsonKind(v);
  throw new InvalidArgumentError(`json: cannot unmarshal ${what} into ${where} of type ${type}`);
}

function tooBig(where: string, what: string): never {
  throw new InvalidArgumentError(
    `${where.replace(/^Go struct field /, '')}: ${what} exceeds the limit (see docs/architecture.md)`,
  );
}

/** Decode `v` (not null/undefined) at `where` ("Go struct field X.Y" or "Go value"). */
function decodeValue(v: unknown, s: TSchema, where: string): unknown {
  const kind = s[Kind];
  switch (kind) {
    case 'String':
      if (typeof v !== 'string') refuse(v, where, goTypeOf(s));
      if (v.length > LIMITS.maxString) tooBig(where, 'string length');
      return v;
    case 'Boolean':
      if (typeof v !== 'boolean') refuse(v, where, goTypeOf(s));
      return v;
    case 'Integer': {
      const type = goTypeOf(s);
      if (typeof v !== 'number') refuse(v, where, type);
      const [lo, hi] = INT_RANGES[type] ?? INT_RANGES.int64;
      if (!Number.isInteger(v) || v < lo || v > hi) refuse(v, where, type, true);
      return v;
    }
    case 'Number':
      if (typeof v !== 'number') refuse(v, where, goTypeOf(s));
      return v;
    case 'Array': {
      // Go's StrSlice also takes a lone string; marked by goType 'strslice'.
      const o = s as TSchema & Opts;
      if (o.goType === 'strslice') {
        // StrSlice.UnmarshalJSON tries []string, then string: Go reports the whole value
        // against `string` when neither fits.
        if (typeof v === 'string') return [v];
        if (!Array.isArray(v) || v.some((x) => x !== null && typeof x !== 'string')) refuse(v, where, 'string');
      }
      if (!Array.isArray(v)) refuse(v, where, goTypeOf(s));
      if (v.length > LIMITS.maxItems) tooBig(where, 'array length');
      const items = (s as unknown as { items: TSchema }).items;
      const out = new Array<unknown>(v.length);
      for (let i = 0; i < v.length; i++) out[i] = v[i] === null ? zero(items) : decodeValue(v[i], items, where);
      return out;
    }
    case 'Record': {
      if (typeof v !== 'object' || v === null || Array.isArray(v)) refuse(v, where, goTypeOf(s));
      const valueSchema = Object.values(
        (s as unknown as { patternProperties: Record<string, TSchema> }).patternProperties,
      )[0];
      const out: Record<string, unknown> = {};
      let n = 0;
      for (const k in v as Record<string, unknown>) {
        if (++n > LIMITS.maxKeys) tooBig(where, 'object size');
        const x = (v as Record<string, unknown>)[k];
        out[k] = x === null ? zero(valueSchema) : decodeValue(x, valueSchema, where);
      }
      return out;
    }
    case 'Object':
      if (typeof v !== 'object' || v === null || Array.isArray(v)) refuse(v, where, goTypeOf(s));
      return decodeStruct(
        v as Record<string, unknown>,
        s,
        (s as TSchema & Opts).goStruct ?? 'struct',
        fieldPath(where),
      );
    case 'Unknown':
    case 'Any':
      return v;
    default:
      throw new Error(`go-decode: unsupported schema kind ${String(kind)}`);
  }
}

/**
 * Go's zero value of a scalar of schema `s` ('' / false / 0), null for anything else (a
 * pointer, slice, map or struct): what Go decodes a `null` element of a slice or map to, and
 * what stored records are repaired with (./repair.ts, which makes a struct's zero itself).
 */
export function zero(s: TSchema): unknown {
  switch (s[Kind]) {
    case 'String':
      return '';
    case 'Boolean':
      return false;
    case 'Integer':
    case 'Number':
      return 0;
    default:
      return null;
  }
}

/** Case-insensitive index of a struct's fields (built once per schema). */
const fieldIndex = new WeakMap<TSchema, Map<string, string>>();

function indexOf(s: TSchema): Map<string, string> {
  let m = fieldIndex.get(s);
  if (!m) {
    m = new Map();
    for (const name of Object.keys((s as unknown as { properties: object }).properties))
      m.set(name.toLowerCase(), name);
    fieldIndex.set(s, m);
  }
  return m;
}

/** The field path of a `where` ("Go struct field S.A.B" -> "A.B"). */
function fieldPath(where: string): string {
  const m = /^Go struct field [^.]+\.(.*)$/.exec(where);
  return m ? m[1] : '';
}

/**
 * Decode one struct. Go names a field in its messages as `<innermost struct type>.<field path
 * from the top>`, e.g. `HostConfig.HostConfig.Memory` (type HostConfig, path HostConfig.Memory).
 */
function decodeStruct(
  obj: Record<string, unknown>,
  s: TSchema,
  structName: string,
  path: string,
): Record<string, unknown> {
  const props = (s as unknown as { properties: Record<string, TSchema> }).properties;
  const idx = indexOf(s);
  const out: Record<string, unknown> = {};
  const exact = new Set<string>();
  let n = 0;
  for (const key in obj) {
    if (++n > LIMITS.maxKeys) tooBig(path || structName, 'object size');
    // Go: an exact name match is preferred; else the first case-insensitive one.
    const name = Object.prototype.hasOwnProperty.call(props, key) ? key : idx.get(key.toLowerCase());
    if (name === undefined) continue;
    if (name !== key && exact.has(name)) continue;
    if (name === key) exact.add(name);
    const v = obj[key];
    if (v === null || v === undefined) {
      delete out[name];
      continue;
    }
    out[name] = decodeValue(v, props[name], `Go struct field ${structName}.${path ? `${path}.` : ''}${name}`);
  }
  return out;
}

/**
 * Decode a whole body: an object for `schema` (a TypeBox Object with `goStruct` and
 * `goType`), `undefined`/`null` giving `{}`. The result has only the schema's fields, each of
 * its declared type; throws InvalidArgumentError (400) otherwise.
 */
export function decodeBody<T>(schema: TSchema, body: unknown): T {
  if (body === undefined || body === null) return {} as T;
  if (typeof body !== 'object' || Array.isArray(body)) refuse(body, 'Go value', goTypeOf(schema));
  const o = schema as TSchema & Opts;
  return decodeStruct(body as Record<string, unknown>, schema, o.goStruct ?? 'body', '') as T;
}
