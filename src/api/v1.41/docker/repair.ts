/**
 * Repair of stored Docker data (PodRecord.frontend) written by an older podvisor that let a
 * wrong type through (e.g. `"CpuShares": "abc"` from an unchecked update). Every field of the
 * stored Config and HostConfig is checked against the same TypeBox schemas the API decodes
 * with; a field of the wrong type is reset to its Go zero value, so that `docker inspect` (a
 * Go-typed client) can always decode the container. Pure: the caller logs what was repaired.
 */
import { Kind, type TSchema } from '@sinclair/typebox';
import { CreateBodySchema, HostConfigSchema } from './docker-schema';
import { zero } from '../../../util/go-decode';

/** Fields dockerd keeps as pointers: their zero value is null. */
const POINTERS = new Set(['MemorySwappiness', 'PidsLimit', 'OomKillDisable', 'Init']);

function props(s: TSchema): Record<string, TSchema> {
  return (s as unknown as { properties: Record<string, TSchema> }).properties;
}

/** Whether `v` is a value of schema `s` (null allowed for lists, maps and pointers). */
function fits(v: unknown, s: TSchema): boolean {
  switch (s[Kind]) {
    case 'String':
      return typeof v === 'string';
    case 'Boolean':
      return typeof v === 'boolean';
    case 'Integer':
      return typeof v === 'number' && Number.isInteger(v) && Math.abs(v) <= 2 ** 64;
    case 'Array': {
      if (v === null) return true;
      if (!Array.isArray(v)) return false;
      const items = (s as unknown as { items: TSchema }).items;
      return items[Kind] === 'Unknown' || v.every((x) => fits(x, items));
    }
    case 'Record': {
      if (v === null) return true;
      if (typeof v !== 'object' || Array.isArray(v)) return false;
      const vs = Object.values((s as unknown as { patternProperties: Record<string, TSchema> }).patternProperties)[0];
      return vs[Kind] === 'Unknown' || Object.values(v as object).every((x) => fits(x, vs));
    }
    case 'Object':
      return typeof v === 'object' && v !== null && !Array.isArray(v);
    default:
      return true;
  }
}

/** Go's zero value of field `name` of schema `s`: null for a pointer, a struct of zeros for a struct. */
function zeroOf(name: string, s: TSchema): unknown {
  if (POINTERS.has(name)) return null;
  if (s[Kind] !== 'Object') return zero(s);
  const out: Record<string, unknown> = {};
  for (const [k, f] of Object.entries(props(s))) out[k] = zeroOf(k, f);
  return out;
}

/** Repair `obj` in place against struct schema `s`; pushes the repaired paths to `fixed`. */
function repairStruct(obj: Record<string, unknown>, s: TSchema, at: string, fixed: string[], skip: Set<string>): void {
  for (const [name, f] of Object.entries(props(s))) {
    if (skip.has(name) || !(name in obj)) continue;
    const v = obj[name];
    if (v === null && (POINTERS.has(name) || f[Kind] === 'Array' || f[Kind] === 'Record')) continue;
    if (f[Kind] === 'Object' && fits(v, f)) {
      repairStruct(v as Record<string, unknown>, f, `${at}${name}.`, fixed, skip);
      continue;
    }
    if (!fits(v, f)) {
      obj[name] = zeroOf(name, f);
      fixed.push(`${at}${name}`);
    }
  }
}

/**
 * Repair a stored Docker frontend ({config, hostConfig, imageRef}) in place. Returns the
 * paths of the fields reset (empty when the record was sound).
 */
export function repairFrontend(frontend: unknown): string[] {
  const fixed: string[] = [];
  if (!frontend || typeof frontend !== 'object') return fixed;
  const fe = frontend as Record<string, unknown>;
  if (fe.config && typeof fe.config === 'object' && !Array.isArray(fe.config)) {
    repairStruct(
      fe.config as Record<string, unknown>,
      CreateBodySchema,
      'Config.',
      fixed,
      new Set(['HostConfig', 'NetworkingConfig']),
    );
  }
  if (fe.hostConfig && typeof fe.hostConfig === 'object' && !Array.isArray(fe.hostConfig)) {
    repairStruct(fe.hostConfig as Record<string, unknown>, HostConfigSchema, 'HostConfig.', fixed, new Set());
  }
  if ('imageRef' in fe && typeof fe.imageRef !== 'string') {
    fe.imageRef = '';
    fixed.push('imageRef');
  }
  return fixed;
}
