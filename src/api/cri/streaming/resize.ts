/**
 * Decodes a resize stream: consecutive JSON objects {"Width":w,"Height":h} (the way Go's
 * json.Decoder reads them, with or without whitespace between). Input that is not such a stream
 * ends decoding, as it does in the kubelet.
 */
import { ResizeEvents, TerminalSize } from './types';

/** The most bytes one undecoded object may take before the stream is dropped. */
const MAX_OBJECT_BYTES = 4096;

/** Splits a byte stream into top-level JSON objects. */
export class ResizeDecoder {
  private pending = '';
  private failed = false;

  constructor(private readonly events: ResizeEvents) {}

  /** Feeds bytes; emits a `resize` for each complete, valid object. */
  push(chunk: Buffer): void {
    if (this.failed) return;
    this.pending += chunk.toString('utf8');
    for (;;) {
      const start = this.pending.search(/\S/);
      if (start < 0) {
        this.pending = '';
        return;
      }
      if (this.pending[start] !== '{') return this.fail();
      const end = objectEnd(this.pending, start);
      if (end < 0) {
        if (this.pending.length - start > MAX_OBJECT_BYTES) this.fail();
        return;
      }
      const text = this.pending.slice(start, end + 1);
      this.pending = this.pending.slice(end + 1);
      const size = parseSize(text);
      if (!size) return this.fail();
      this.events.emit('resize', size);
    }
  }

  /** The stream ended. */
  end(): void {
    this.events.emit('end');
  }

  private fail(): void {
    this.failed = true;
    this.pending = '';
  }
}

function objectEnd(s: string, start: number): number {
  let depth = 0;
  let inString = false;
  for (let i = start; i < s.length; i++) {
    const c = s[i];
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
    } else if (c === '"') inString = true;
    else if (c === '{') depth++;
    else if (c === '}' && --depth === 0) return i;
  }
  return -1;
}

function parseSize(text: string): TerminalSize | undefined {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return undefined;
  }
  const o = v as Record<string, unknown>;
  const dim = (x: unknown): number | undefined =>
    x === undefined
      ? 0
      : Number.isInteger(x) && (x as number) >= 0 && (x as number) <= 0xffff
        ? (x as number)
        : undefined;
  // Go's decoder matches field names case-insensitively.
  const get = (name: string): unknown => Object.entries(o).find(([k]) => k.toLowerCase() === name)?.[1];
  const width = dim(get('width'));
  const height = dim(get('height'));
  if (width === undefined || height === undefined) return undefined;
  return { width, height };
}
