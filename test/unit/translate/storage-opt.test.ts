import { parseStorageOpt } from '../../../src/translate/storage-opt';
import { UnavailableError } from '../../../src/errors';

test('size is the only key, in any case, kept as written', () => {
  expect(parseStorageOpt(undefined)).toEqual({});
  expect(parseStorageOpt({})).toEqual({});
  expect(parseStorageOpt({ size: '64M' })).toEqual({ size: '64M' });
  expect(parseStorageOpt({ Size: '1G' })).toEqual({ size: '1G' });
});

test('another key gets dockerd overlay2 answer (500)', () => {
  expect(() => parseStorageOpt({ foo: 'bar' })).toThrow(new UnavailableError('Unknown option foo'));
  expect(() => parseStorageOpt({ size: '1G', dm_basesize: '1G' })).toThrow('Unknown option dm_basesize');
});
