/**
 * The `detachKeys` parameter of attach, exec and `docker run -it`, in Docker's syntax
 * (`ctrl-p,ctrl-q`), parsed into the byte sequence the pod layer's detach scanner watches for
 * (src/pod/io/detach.ts). The refusal is dockerd's text.
 */
import { InvalidArgumentError } from '../errors';

/** Docker's default: ctrl-p, ctrl-q. */
export const DEFAULT_DETACH_KEYS = Buffer.from([0x10, 0x11]);

/**
 * Parse `ctrl-p,ctrl-q`, `a,b`, `ctrl-@`, `ctrl-[`... (`ctrl-<a-z @ [ \ ] ^ _>` or a single
 * character). Throws "Invalid detach keys (x) provided" as dockerd does.
 */
export function parseDetachKeys(spec: string): Buffer {
  const out: number[] = [];
  const bad = () => new InvalidArgumentError(`Invalid detach keys (${spec}) provided`);
  for (const key of spec.split(',')) {
    if (key.length > 1) {
      const m = /^ctrl-(.)$/i.exec(key);
      if (!m) throw bad();
      const ch = m[1].toLowerCase();
      if (ch >= 'a' && ch <= 'z') out.push(ch.charCodeAt(0) - 0x60);
      else if (ch === '@') out.push(0);
      else if (ch === '[') out.push(27);
      else if (ch === '\\') out.push(28);
      else if (ch === ']') out.push(29);
      else if (ch === '^') out.push(30);
      else if (ch === '_') out.push(31);
      else throw bad();
    } else if (key.length === 1) {
      out.push(key.charCodeAt(0));
    } else {
      throw bad();
    }
  }
  return Buffer.from(out);
}
