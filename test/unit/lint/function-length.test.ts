/**
 * No function of src is longer than 120 lines: a longer one is split into named
 * functions or modules, as the container routes' register() and the daemon's main() were.
 * Lengths are read with TypeScript's parser (test/helpers/function-lengths.ts), from a
 * function's first line to its last, nested functions counted in their outer one too.
 */
import * as path from 'node:path';
import { functionLengths, functionLengthsOf } from '../../helpers/function-lengths';

const src = path.resolve(__dirname, '../../../src');

/** The longest a function of src may be, in lines. */
const MAX_LINES = 120;

const all = functionLengths(src);

test(`no function of src is over ${MAX_LINES} lines`, () => {
  const over = all.filter((f) => f.lines > MAX_LINES);
  // Each with where it starts, for the person who must split it.
  expect(over.map((f) => `${f.at} ${f.name}: ${f.lines} lines`)).toEqual([]);
});

test('the measure finds the functions of src', () => {
  // A measure that found nothing would pass the test above whatever src holds.
  expect(all.length).toBeGreaterThan(1000);
  expect(all.some((f) => f.at.startsWith('storage/archive/tar-in.ts:') && f.name === 'extractInto')).toBe(true);
});

describe('the measure', () => {
  test('counts a function from its first line to its last, nested ones in the outer one too', () => {
    const text = [
      'export function outer() {',
      '  const inner = () => {',
      '    return 1;',
      '  };',
      '  return inner;',
      '}',
    ];
    expect(functionLengthsOf(text.join('\n'), 'x.ts')).toEqual([
      { at: 'x.ts:1', name: 'outer', lines: 6 },
      { at: 'x.ts:2', name: 'inner', lines: 3 },
    ]);
  });

  test('names methods and constructors, and leaves declarations without a body out', () => {
    const text = 'class A {\n  constructor() {}\n  m(): void {\n  }\n}\ndeclare function d(): void;\n';
    expect(functionLengthsOf(text, 'y.ts').map((f) => `${f.name}:${f.lines}`)).toEqual(['constructor:1', 'm:2']);
  });
});
