import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { emptyQcow2, QCOW2_MAX_BYTES, writeEmptyQcow2 } from '../../../src/util/qcow2-overlay';

const GiB = 1024 ** 3;
const CLUSTER = 65536;

describe('an empty qcow2 overlay, as the qcow2 specification lays it out', () => {
  const img = emptyQcow2(16 * GiB);

  it('has the version 3 header for the virtual size, with 64 KiB clusters', () => {
    expect(img.subarray(0, 4).toString('latin1')).toBe('QFI\xfb');
    expect(img.readUInt32BE(4)).toBe(3);
    expect(img.readUInt32BE(20)).toBe(16);
    expect(img.readBigUInt64BE(24)).toBe(BigInt(16 * GiB));
    expect(img.readUInt32BE(96)).toBe(4);
    expect(img.readUInt32BE(100)).toBe(104);
  });

  it('names no backing file, no encryption, no snapshot and no feature (an external data file is one)', () => {
    expect(img.readBigUInt64BE(8)).toBe(0n);
    expect(img.readUInt32BE(16)).toBe(0);
    expect(img.readUInt32BE(32)).toBe(0);
    expect(img.readUInt32BE(60)).toBe(0);
    expect(img.readBigUInt64BE(72)).toBe(0n);
    expect(img.readBigUInt64BE(80)).toBe(0n);
    expect(img.readBigUInt64BE(88)).toBe(0n);
    // No header extension: the end marker follows the header.
    expect(img.readBigUInt64BE(104)).toBe(0n);
  });

  it('has an empty L1 table big enough for the size (512 MiB per entry) in its own cluster', () => {
    expect(img.readUInt32BE(36)).toBe(32);
    expect(Number(img.readBigUInt64BE(40))).toBe(3 * CLUSTER);
    expect(img.subarray(3 * CLUSTER, 4 * CLUSTER).every((b) => b === 0)).toBe(true);
    expect(emptyQcow2(512 * 1024 * 1024 + 512).readUInt32BE(36)).toBe(2);
  });

  it('counts its four clusters once each in its one refcount block', () => {
    expect(Number(img.readBigUInt64BE(48))).toBe(CLUSTER);
    expect(img.readUInt32BE(56)).toBe(1);
    expect(Number(img.readBigUInt64BE(CLUSTER))).toBe(2 * CLUSTER);
    expect(img.subarray(CLUSTER + 8, 2 * CLUSTER).every((b) => b === 0)).toBe(true);
    const counts = [0, 1, 2, 3, 4, 5].map((c) => img.readUInt16BE(2 * CLUSTER + 2 * c));
    expect(counts).toEqual([1, 1, 1, 1, 0, 0]);
    expect(img.length).toBe(4 * CLUSTER);
  });

  it('refuses a size it cannot lay out', () => {
    for (const bytes of [0, -512, 1000, QCOW2_MAX_BYTES + 512, 1.5])
      expect(() => emptyQcow2(bytes)).toThrow(RangeError);
  });

  it('is written as a new file only, private to the host', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'qcow2-'));
    try {
      const f = path.join(dir, 'o.qcow2');
      await writeEmptyQcow2(f, 16 * GiB);
      expect(fs.readFileSync(f).equals(img)).toBe(true);
      expect(fs.statSync(f).mode & 0o777).toBe(0o600);
      await expect(writeEmptyQcow2(f, 16 * GiB)).rejects.toThrow(/EEXIST/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
