/**
 * The one query parser follows dockerd's httputils rules: BoolValue ('', 0, no, false, none in
 * any case are false, anything else true), BoolValueOrDefault (absent gives the default), and
 * strconv.Atoi's messages.
 */
import { Type } from '@sinclair/typebox';
import { Q, atoi, boolValue, decodeQuery } from '../../../src/api/v1.41/schema/query';

test.each(['', '0', 'no', 'NO', 'false', 'False', 'none', ' none '])('%j is false', (v) => {
  expect(boolValue(v)).toBe(false);
});

test.each(['1', 'yes', 'true', 'on', 'x', '2'])('%j is true', (v) => {
  expect(boolValue(v)).toBe(true);
});

test('DELETE /images/x?force=no decodes force as false; absent takes the default', () => {
  const s = Type.Object({ force: Q.bool(), stream: Q.bool(true) });
  expect(decodeQuery(s, { force: 'no' })).toEqual({ force: false, stream: true });
  expect(decodeQuery(s, { force: '1', stream: '0' })).toEqual({ force: true, stream: false });
  expect(decodeQuery(s, { stream: '' })).toEqual({ force: false, stream: false });
});

test('integers: strconv.Atoi messages and the int64 range', () => {
  expect(atoi('-1')).toBe(-1);
  expect(() => atoi('abc')).toThrow('strconv.Atoi: parsing "abc": invalid syntax');
  expect(() => atoi('1e30')).toThrow('strconv.Atoi: parsing "1e30": invalid syntax');
  expect(() => atoi('99999999999999999999')).toThrow(
    'strconv.Atoi: parsing "99999999999999999999": value out of range',
  );
});
