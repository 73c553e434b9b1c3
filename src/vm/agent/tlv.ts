/**
 * TLV fields of control-channel payloads (see guest/include/podvisor_agent.h):
 * `| u16 tag | u16 0 | u32 length | value |`, little-endian.
 *
 * TlvWriter builds what the host sends and rejects values the agent would refuse
 * (InvalidArgumentError). TlvReader parses what the agent sends and trusts nothing: every
 * field must fit the payload, known tags must have their type's size, strings must be valid
 * UTF-8 without NUL, and a single-valued tag may not repeat; anything else is an
 * UnavailableError ("agent protocol error"), the same as any other broken agent.
 */
import { InvalidArgumentError, UnavailableError } from '../../errors';
import { Limits, TAG_TYPES } from './protocol';

/** The error for anything malformed that came from the guest. */
export function protocolError(message: string): UnavailableError {
  return new UnavailableError(`agent protocol error: ${message}`);
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Builds a TLV payload. */
export class TlvWriter {
  private readonly parts: Buffer[] = [];
  private size = 0;

  /** Append a raw field. */
  bytes(tag: number, value: Buffer): this {
    const h = Buffer.allocUnsafe(Limits.TLV_HEADER_SIZE);
    h.writeUInt16LE(tag, 0);
    h.writeUInt16LE(0, 2);
    h.writeUInt32LE(value.length, 4);
    this.parts.push(h, value);
    this.size += h.length + value.length;
    return this;
  }

  /** Append an unsigned 32-bit field. */
  u32(tag: number, v: number): this {
    if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) throw new InvalidArgumentError(`value out of range: ${v}`);
    const b = Buffer.allocUnsafe(4);
    b.writeUInt32LE(v, 0);
    return this.bytes(tag, b);
  }

  /** Append an unsigned 64-bit field. */
  u64(tag: number, v: number): this {
    if (!Number.isSafeInteger(v) || v < 0) throw new InvalidArgumentError(`value out of range: ${v}`);
    const b = Buffer.allocUnsafe(8);
    b.writeBigUInt64LE(BigInt(v), 0);
    return this.bytes(tag, b);
  }

  /** Append a string field (UTF-8, no NUL, at most `max` bytes). */
  str(tag: number, s: string, max: number = Limits.MAX_STRING): this {
    const b = Buffer.from(s, 'utf8');
    if (b.includes(0)) throw new InvalidArgumentError('strings sent to the agent may not contain NUL bytes');
    if (b.length > max) throw new InvalidArgumentError(`string longer than ${max} bytes`);
    return this.bytes(tag, b);
  }

  /** Append one field per string, in order. */
  strs(tag: number, list: readonly string[], max: number = Limits.MAX_STRING): this {
    for (const s of list) this.str(tag, s, max);
    return this;
  }

  /** Append a nested TLV sequence as one field. */
  nested(tag: number, inner: TlvWriter): this {
    return this.bytes(tag, inner.toBuffer());
  }

  /** Payload length so far. */
  get length(): number {
    return this.size;
  }

  /** The payload. */
  toBuffer(): Buffer {
    return Buffer.concat(this.parts, this.size);
  }
}

/** A parsed, validated TLV payload from the agent. */
export class TlvReader {
  private constructor(private readonly fields: Map<number, Buffer[]>) {}

  /** Parse and validate; throws an UnavailableError (protocol error) when malformed. */
  static parse(payload: Buffer): TlvReader {
    const fields = new Map<number, Buffer[]>();
    let pos = 0;
    while (pos < payload.length) {
      if (payload.length - pos < Limits.TLV_HEADER_SIZE) throw protocolError('truncated TLV field header');
      const tag = payload.readUInt16LE(pos);
      const len = payload.readUInt32LE(pos + 4);
      pos += Limits.TLV_HEADER_SIZE;
      if (len > payload.length - pos) throw protocolError(`TLV field ${tag} runs past the end of its frame`);
      const value = payload.subarray(pos, pos + len);
      pos += len;
      const type = TAG_TYPES[tag];
      if (type === undefined) continue; // a newer agent's field: skip
      if ((type === 'u32' || type === 'u32[]') && len !== 4) throw protocolError(`TLV field ${tag} must be 4 bytes`);
      if (type === 'u64' && len !== 8) throw protocolError(`TLV field ${tag} must be 8 bytes`);
      const list = fields.get(tag);
      if (list && !type.endsWith('[]')) throw protocolError(`TLV field ${tag} repeated`);
      if (list) list.push(value);
      else fields.set(tag, [value]);
    }
    return new TlvReader(fields);
  }

  /** True when the tag is present. */
  has(tag: number): boolean {
    return this.fields.has(tag);
  }

  /** A u32 field, or undefined. */
  u32(tag: number): number | undefined {
    const v = this.fields.get(tag)?.[0];
    return v === undefined ? undefined : v.readUInt32LE(0);
  }

  /** A u32 field that must be present. */
  needU32(tag: number): number {
    const v = this.u32(tag);
    if (v === undefined) throw protocolError(`missing field ${tag}`);
    return v;
  }

  /** Every value of a repeated u32 field (`u32[]`), in order; [] when absent. */
  u32s(tag: number): number[] {
    return (this.fields.get(tag) ?? []).map((v) => v.readUInt32LE(0));
  }

  /** A u64 field as a safe integer, or undefined. */
  u64(tag: number): number | undefined {
    const v = this.fields.get(tag)?.[0];
    if (v === undefined) return undefined;
    const n = v.readBigUInt64LE(0);
    if (n > BigInt(Number.MAX_SAFE_INTEGER)) throw protocolError(`field ${tag} out of range`);
    return Number(n);
  }

  /** A u64 field that must be present. */
  needU64(tag: number): number {
    const v = this.u64(tag);
    if (v === undefined) throw protocolError(`missing field ${tag}`);
    return v;
  }

  /** A string field (validated UTF-8, no NUL, bounded), or undefined. */
  str(tag: number, max: number = Limits.MAX_STRING): string | undefined {
    const v = this.fields.get(tag)?.[0];
    return v === undefined ? undefined : decodeString(v, tag, max);
  }

  /** A string field that must be present. */
  needStr(tag: number, max: number = Limits.MAX_STRING): string {
    const v = this.str(tag, max);
    if (v === undefined) throw protocolError(`missing field ${tag}`);
    return v;
  }

  /** A bytes field, or undefined. */
  bytes(tag: number): Buffer | undefined {
    return this.fields.get(tag)?.[0];
  }

  /** Every nested record of a `tlv[]` tag, parsed. */
  records(tag: number): TlvReader[] {
    return (this.fields.get(tag) ?? []).map((b) => TlvReader.parse(b));
  }
}

function decodeString(b: Buffer, tag: number, max: number): string {
  if (b.length > max) throw protocolError(`string field ${tag} longer than ${max} bytes`);
  if (b.includes(0)) throw protocolError(`string field ${tag} contains NUL`);
  try {
    return utf8.decode(b);
  } catch {
    throw protocolError(`string field ${tag} is not valid UTF-8`);
  }
}
