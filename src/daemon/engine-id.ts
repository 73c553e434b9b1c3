/**
 * The daemon's ID (`docker info` → ID): made once, kept in the data root, the same across
 * restarts. Its shape is dockerd 20.10's key ID: twelve groups of four base32 characters
 * joined by ':' (e.g. `DWJ2:VYKK:JU65:V77B:JPIM:QSNM:TSX2:PVEW:ANQF:DLB5:TWZX:5EAT`).
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';

/** The file in the data root that holds the ID. */
export const ENGINE_ID_FILE = 'engine-id';

const SHAPE = /^[A-Z2-7]{4}(:[A-Z2-7]{4}){11}$/;
const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/** A fresh ID in dockerd's shape (240 random bits, base32, grouped by four). */
export function newEngineId(): string {
  const bytes = randomBytes(30);
  let bits = 0;
  let value = 0;
  let out = '';
  for (const b of bytes) {
    value = (value << 8) | b;
    bits += 8;
    while (bits >= 5) {
      out += ALPHABET[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
    value &= (1 << bits) - 1;
  }
  return out.match(/.{4}/g)!.join(':');
}

/** Whether `s` has the shape of an engine ID. */
export function isEngineId(s: string): boolean {
  return SHAPE.test(s);
}

/**
 * The ID kept in `dataRoot`, made and stored (atomically) on first use, or when the file is
 * missing or not in the expected shape.
 */
export function loadEngineId(dataRoot: string): string {
  const file = path.join(dataRoot, ENGINE_ID_FILE);
  try {
    const s = fs.readFileSync(file, 'utf8').trim();
    if (isEngineId(s)) return s;
  } catch {
    // missing: made below
  }
  const id = newEngineId();
  fs.mkdirSync(dataRoot, { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, `${id}\n`, { mode: 0o644 });
  fs.renameSync(tmp, file);
  return id;
}
