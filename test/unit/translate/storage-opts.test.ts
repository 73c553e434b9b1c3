import { parseStorageOpt } from '../../../src/translate/request/policy/storage-opts';
import { UnavailableError } from '../../../src/errors';

test("size is dockerd's only key, in any case, kept as written", () => {
  expect(parseStorageOpt(undefined)).toEqual({});
  expect(parseStorageOpt({})).toEqual({});
  expect(parseStorageOpt({ size: '64M' })).toEqual({ size: '64M' });
  expect(parseStorageOpt({ Size: '1G' })).toEqual({ size: '1G' });
});

test('another key gets dockerd overlay2 answer (500)', () => {
  expect(() => parseStorageOpt({ foo: 'bar' })).toThrow(new UnavailableError('Unknown option foo'));
  expect(() => parseStorageOpt({ size: '1G', dm_basesize: '1G' })).toThrow('Unknown option dm_basesize');
});

test("podvisor's image key: disk reads the image from its disk, layers over the layers share", () => {
  expect(parseStorageOpt({ image: 'disk' })).toEqual({ imageOnDisk: true });
  expect(parseStorageOpt({ Image: 'disk', size: '1G' })).toEqual({ imageOnDisk: true, size: '1G' });
  expect(parseStorageOpt({ image: 'layers' })).toEqual({});
  expect(() => parseStorageOpt({ image: 'Disk' })).toThrow(
    new UnavailableError("invalid value for storage option image: 'Disk' (disk or layers)"),
  );
  expect(() => parseStorageOpt({ image: '' })).toThrow(UnavailableError);
});

test("podvisor's volumes key: disk or share, nothing else", () => {
  expect(parseStorageOpt({ volumes: 'disk' })).toEqual({ volumes: 'disk' });
  expect(parseStorageOpt({ Volumes: 'share', image: 'disk' })).toEqual({ volumes: 'share', imageOnDisk: true });
  expect(() => parseStorageOpt({ volumes: 'host' })).toThrow(
    new UnavailableError("invalid value for storage option volumes: 'host' (disk or share)"),
  );
});
