import { capTmpfsOptions, tmpfsCapBytes, tmpfsSizeBytes } from '../../../src/pod/mounts/tmpfs-size';

const MIB = 1024 * 1024;

describe('tmpfs size in a VM', () => {
  test('the cap is half of what the guest leaves, at least 8 MiB', () => {
    expect(tmpfsCapBytes(256)).toBe(96 * MIB);
    expect(tmpfsCapBytes(1088)).toBe(512 * MIB);
    expect(tmpfsCapBytes(64)).toBe(8 * MIB);
  });

  test('size= values are read as the kernel reads them', () => {
    expect(tmpfsSizeBytes('1g', 256)).toBe(1024 * MIB);
    expect(tmpfsSizeBytes('64M', 256)).toBe(64 * MIB);
    expect(tmpfsSizeBytes('100k', 256)).toBe(100 * 1024);
    expect(tmpfsSizeBytes('4096', 256)).toBe(4096);
    expect(tmpfsSizeBytes('50%', 256)).toBe(128 * MIB);
    expect(tmpfsSizeBytes('1x', 256)).toBeUndefined();
  });

  test('a size above the cap, 0 or none gets the cap; a smaller one and other options are kept', () => {
    expect(capTmpfsOptions('size=1g', 256)).toBe(`size=${96 * MIB}`);
    expect(capTmpfsOptions('mode=1777,size=1073741824', 256)).toBe(`mode=1777,size=${96 * MIB}`);
    expect(capTmpfsOptions('size=0', 256)).toBe(`size=${96 * MIB}`);
    expect(capTmpfsOptions('size=90%', 256)).toBe(`size=${96 * MIB}`);
    expect(capTmpfsOptions(undefined, 256)).toBe(`size=${96 * MIB}`);
    expect(capTmpfsOptions('mode=700', 256)).toBe(`mode=700,size=${96 * MIB}`);
    expect(capTmpfsOptions('size=64m,mode=1777', 256)).toBe('size=64m,mode=1777');
    expect(capTmpfsOptions('size=1g', 2112)).toBe('size=1g');
  });
});
