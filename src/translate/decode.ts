/**
 * Type checks of request bodies with the messages of Go's encoding/json, which is what
 * dockerd answers for a field of the wrong type, e.g.
 *   json: cannot unmarshal string into Go struct field ContainerConfigWrapper.Env of type []string
 * (dockerd 20.10 answers these with a 500; we answer 400: the input is bad, not the daemon.)
 * Unknown fields are ignored, as Go does; `null` is accepted everywhere (the zero value).
 */
import { InvalidArgumentError } from '../errors';

/** The Go type a field decodes into. */
export type GoKind =
  | 'string'
  | 'bool'
  | 'int'
  | 'int64'
  | 'uint16'
  | 'uint64'
  | '*int64'
  | '*bool'
  | '[]string'
  | 'strslice'
  | 'map[string]string'
  | 'object'
  | 'array'
  | '[2]uint';

/** Field name -> kind, or a nested struct (name, fields). */
export type Schema = Record<string, GoKind | { struct: string; fields: Schema }>;

function jsonKind(v: unknown): string {
  if (typeof v === 'string') return 'string';
  if (typeof v === 'boolean') return 'bool';
  if (typeof v === 'number') return `number ${v}`;
  if (Array.isArray(v)) return 'array';
  return 'object';
}

function goTypeName(k: GoKind): string {
  switch (k) {
    case 'strslice': return 'string';
    case '*int64': return 'int64';
    case '*bool': return 'bool';
    case 'object': return 'struct';
    case 'array': return '[]interface {}';
    default: return k;
  }
}

function fail(v: unknown, where: string, type: string): never {
  const what = typeof v === 'number' ? `number ${v}` : jsonKind(v).replace(/^number .*/, 'number');
  throw new InvalidArgumentError(`json: cannot unmarshal ${what} into ${where} of type ${type}`);
}

function checkKind(v: unknown, kind: GoKind, where: string): void {
  if (v === null || v === undefined) return;
  const bad = () => fail(v, where, goTypeName(kind));
  switch (kind) {
    case 'string':
      if (typeof v !== 'string') bad();
      return;
    case 'bool':
    case '*bool':
      if (typeof v !== 'boolean') bad();
      return;
    case 'int':
    case 'int64':
    case '*int64':
      if (typeof v !== 'number' || !Number.isInteger(v)) bad();
      return;
    case 'uint16':
    case 'uint64':
      if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || (kind === 'uint16' && v > 65535)) bad();
      return;
    case '[]string':
      if (!Array.isArray(v)) bad();
      for (const x of v as unknown[]) if (x !== null && typeof x !== 'string') fail(x, where, 'string');
      return;
    case 'strslice':
      // Docker's StrSlice: a string or a list of strings.
      if (typeof v === 'string') return;
      if (!Array.isArray(v)) bad();
      for (const x of v as unknown[]) if (typeof x !== 'string') fail(v, where, 'string');
      return;
    case 'map[string]string':
      if (typeof v !== 'object' || Array.isArray(v)) bad();
      for (const x of Object.values(v as object)) if (x !== null && typeof x !== 'string') fail(x, where, 'string');
      return;
    case 'object':
      if (typeof v !== 'object' || Array.isArray(v)) bad();
      return;
    case 'array':
      if (!Array.isArray(v)) bad();
      return;
    case '[2]uint':
      if (!Array.isArray(v)) bad();
      for (const x of v as unknown[]) if (typeof x !== 'number' || !Number.isInteger(x) || x < 0) fail(x, where, 'uint');
      return;
  }
}

/**
 * Check `obj` against `schema`; `structName` is Go's name of the struct for messages
 * (e.g. `ContainerConfigWrapper`, `HostConfig.HostConfig`).
 */
export function checkStruct(obj: unknown, schema: Schema, structName: string, goTypeForWhole?: string): void {
  if (obj === null || obj === undefined) return;
  if (typeof obj !== 'object' || Array.isArray(obj)) {
    throw new InvalidArgumentError(`json: cannot unmarshal ${jsonKind(obj).replace(/^number .*/, 'number')} into Go value of type ${goTypeForWhole ?? structName}`);
  }
  for (const [field, kind] of Object.entries(schema)) {
    const v = (obj as Record<string, unknown>)[field];
    if (v === undefined || v === null) continue;
    const where = `Go struct field ${structName}.${field}`;
    if (typeof kind === 'string') {
      checkKind(v, kind, where);
    } else {
      if (typeof v !== 'object' || Array.isArray(v)) fail(v, where, kind.struct);
      checkStruct(v, kind.fields, `${structName}.${field}`);
    }
  }
}

/** Convert a StrSlice value (string or list) to a list; null/undefined stay null. */
export function strSlice(v: unknown): string[] | null {
  if (v === null || v === undefined) return null;
  if (typeof v === 'string') return [v];
  return (v as string[]).slice();
}
