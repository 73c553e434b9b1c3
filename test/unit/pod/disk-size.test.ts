import { diskFor, MIN_DISK_BYTES, STORAGE_OPT_UNSUPPORTED } from '../../../src/pod/mounts/disk-size';
import { UnavailableError } from '../../../src/errors';

const DISK = { bytes: 16 * 2 ** 30 };

test('without a size the disk is the daemon default, or none', () => {
  expect(diskFor(undefined, DISK)).toEqual(DISK);
  expect(diskFor(undefined, undefined)).toBeUndefined();
});

test('a size is read as dockerd reads it (go-units, binary units) and becomes the filesystem size', () => {
  expect(diskFor('64M', DISK)).toEqual({ bytes: DISK.bytes, fsBytes: 64 * 2 ** 20 });
  expect(diskFor('1.5GB', DISK)).toEqual({ bytes: DISK.bytes, fsBytes: 1.5 * 2 ** 30 });
  expect(diskFor('16g', DISK)).toEqual({ bytes: DISK.bytes, fsBytes: DISK.bytes });
  expect(diskFor(String(MIN_DISK_BYTES), DISK)).toEqual({ bytes: DISK.bytes, fsBytes: MIN_DISK_BYTES });
});

test('a size without a disk of its own gets dockerd answer for a filesystem without quotas (500)', () => {
  expect(() => diskFor('64M', undefined)).toThrow(UnavailableError);
  expect(() => diskFor('abc', undefined)).toThrow(STORAGE_OPT_UNSUPPORTED);
});

test('unreadable and out-of-range sizes are refused', () => {
  expect(() => diskFor('abc', DISK)).toThrow("invalid size: 'abc'");
  expect(() => diskFor('1.2.3M', DISK)).toThrow("invalid size: '1.2.3M'");
  expect(() => diskFor('', DISK)).toThrow("invalid size: ''");
  expect(() => diskFor('15M', DISK)).toThrow("a container's disk is 16MiB to 16GiB");
  expect(() => diskFor('17G', DISK)).toThrow(UnavailableError);
});

test('the image on the disk goes with the disk, and needs one', () => {
  expect(diskFor(undefined, DISK, true)).toEqual({ bytes: DISK.bytes, imageOnDisk: true });
  expect(diskFor('64M', DISK, true)).toEqual({ bytes: DISK.bytes, fsBytes: 64 * 2 ** 20, imageOnDisk: true });
  expect(diskFor(undefined, DISK, false)).toEqual(DISK);
  expect(() => diskFor(undefined, undefined, true)).toThrow('--storage-opt image=disk: only in block mode');
});
