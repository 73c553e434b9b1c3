/**
 * Reading a parsed pod file (plain JSON values) field by field: every field read is ticked
 * off, and what was not read at the end is reported by its path, so that no field of a pod
 * file is ever silently dropped. Kubernetes quantities (`128Mi`, `500m`) are read here too.
 */

/** A JSON object from a pod file. */
export type Obj = Record<string, unknown>;

/** Collects the problems found while reading one file. */
export class Problems {
  readonly list: string[] = [];
  /** Note a problem at `path`. */
  add(path: string, why: string): void {
    this.list.push(`${path}: ${why}`);
  }
}

/** One object of the file being read: typed getters that tick fields off. */
export class Fields {
  private readonly seen = new Set<string>();

  constructor(
    readonly obj: Obj,
    readonly path: string,
    readonly problems: Problems,
  ) {}

  /** The object at `key` of `parent`, or undefined (with a problem when it is not an object). */
  static of(value: unknown, path: string, problems: Problems): Fields | undefined {
    if (value === undefined || value === null) return undefined;
    if (typeof value !== 'object' || Array.isArray(value)) {
      problems.add(path, 'must be an object');
      return undefined;
    }
    return new Fields(value as Obj, path, problems);
  }

  private at(key: string): string {
    return this.path ? `${this.path}.${key}` : key;
  }

  /** The raw value of `key` (ticked off). */
  raw(key: string): unknown {
    this.seen.add(key);
    const v = this.obj[key];
    return v === null ? undefined : v;
  }

  /** Tick `key` off and report it as unsupported when it is set (a field known but not run). */
  unsupported(key: string, why = 'not supported by podvisor'): void {
    const v = this.raw(key);
    if (v === undefined) return;
    if (Array.isArray(v) && v.length === 0) return;
    if (typeof v === 'object' && v !== null && !Array.isArray(v) && Object.keys(v).length === 0) return;
    this.problems.add(this.at(key), why);
  }

  string(key: string): string | undefined {
    const v = this.raw(key);
    if (v === undefined) return undefined;
    if (typeof v === 'string') return v;
    if (typeof v === 'number') return String(v);
    this.problems.add(this.at(key), 'must be a string');
    return undefined;
  }

  bool(key: string): boolean | undefined {
    const v = this.raw(key);
    if (v === undefined) return undefined;
    if (typeof v === 'boolean') return v;
    this.problems.add(this.at(key), 'must be true or false');
    return undefined;
  }

  /** A non-negative integer (strings of digits too: YAML authors quote numbers). */
  int(key: string, max = Number.MAX_SAFE_INTEGER): number | undefined {
    const v = this.raw(key);
    if (v === undefined) return undefined;
    const n = typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : v;
    if (typeof n === 'number' && Number.isInteger(n) && n >= 0 && n <= max) return n;
    this.problems.add(this.at(key), `must be an integer from 0 to ${max}`);
    return undefined;
  }

  /** A list of strings. */
  strings(key: string): string[] | undefined {
    const v = this.raw(key);
    if (v === undefined) return undefined;
    if (typeof v === 'string') return [v];
    if (Array.isArray(v) && v.every((s) => typeof s === 'string' || typeof s === 'number')) return v.map(String);
    this.problems.add(this.at(key), 'must be a list of strings');
    return undefined;
  }

  /** A string-to-string map (labels). */
  map(key: string): Record<string, string> {
    const v = this.raw(key);
    if (v === undefined) return {};
    if (typeof v !== 'object' || Array.isArray(v)) {
      this.problems.add(this.at(key), 'must be a map of strings');
      return {};
    }
    const out: Record<string, string> = {};
    for (const [k, val] of Object.entries(v as Obj)) {
      if (typeof val === 'string' || typeof val === 'number' || typeof val === 'boolean') out[k] = String(val);
      else this.problems.add(`${this.at(key)}.${k}`, 'must be a string');
    }
    return out;
  }

  /** The sub-object at `key`. */
  object(key: string): Fields | undefined {
    return Fields.of(this.raw(key), this.at(key), this.problems);
  }

  /** The list of objects at `key` (each with its own path `key[i]`). */
  objects(key: string): Fields[] {
    const v = this.raw(key);
    if (v === undefined) return [];
    if (!Array.isArray(v)) {
      this.problems.add(this.at(key), 'must be a list');
      return [];
    }
    const out: Fields[] = [];
    v.forEach((item, i) => {
      const f = Fields.of(item, `${this.at(key)}[${i}]`, this.problems);
      if (f) out.push(f);
    });
    return out;
  }

  /** Report every field of the object that was not read. */
  done(): void {
    for (const key of Object.keys(this.obj)) if (!this.seen.has(key)) this.problems.add(this.at(key), 'unknown field');
  }
}

const BINARY: Record<string, number> = { Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40 };
const DECIMAL: Record<string, number> = { '': 1, k: 1e3, K: 1e3, M: 1e6, G: 1e9, T: 1e12 };

/** A Kubernetes memory quantity (`128Mi`, `1G`, `1e9`, `1048576`) in bytes; undefined when malformed. */
export function parseMemoryQuantity(q: string | number): number | undefined {
  if (typeof q === 'number') return Number.isFinite(q) && q >= 0 ? Math.floor(q) : undefined;
  const m = /^(\d+(?:\.\d+)?(?:[eE]\d+)?)(Ki|Mi|Gi|Ti|k|K|M|G|T)?$/.exec(q.trim());
  if (!m) return undefined;
  const unit = m[2] ?? '';
  const factor = BINARY[unit] ?? DECIMAL[unit];
  const n = Math.floor(Number(m[1]) * (factor as number));
  return Number.isFinite(n) ? n : undefined;
}

/** A Kubernetes CPU quantity (`500m`, `1`, `0.5`) in millicores; undefined when malformed. */
export function parseCpuQuantity(q: string | number): number | undefined {
  if (typeof q === 'number') return Number.isFinite(q) && q >= 0 ? Math.round(q * 1000) : undefined;
  const m = /^(\d+(?:\.\d+)?)(m)?$/.exec(q.trim());
  if (!m) return undefined;
  return m[2] ? Math.round(Number(m[1])) : Math.round(Number(m[1]) * 1000);
}
