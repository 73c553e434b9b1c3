/**
 * No function of src is longer than 120 lines (issue 43): a longer one is split into named
 * functions or modules, as the container routes' register() and the daemon's main() were.
 * Lengths are read with TypeScript's parser (test/helpers/function-lengths.ts), from a
 * function's first line to its last, nested functions counted in their outer one too.
 */
import * as path from 'node:path';
import { functionLengths, functionLengthsOf } from '../../helpers/function-lengths';

const src = path.resolve(__dirname, '../../../src');

/** The longest a function of src may be, in lines. */
const MAX_LINES = 120;

/**
 * Functions over the limit today, each to be split by later work: `file:name` and its length
 * now. This list only shrinks. An entry whose function got shorter than its length here must
 * have its length lowered (or, under the limit, its entry removed): the last tests check both,
 * so a function on this list cannot grow either. Do not add to it.
 */
const KNOWN_LONG: Record<string, number> = {
  'storage/archive/tar-in.ts:extractInto': 217,
  'storage/archive/tar-in.ts:place': 145,
  'pod/runtime.ts:startPod': 127,
  'storage/pull.ts:fetchLayer': 126,
  'pod/runtime.ts:<anonymous>': 125,
  'storage/extract.ts:entry': 123,
};

const keyOf = (at: string, name: string) => `${at.replace(/:\d+$/, '')}:${name}`;
const all = functionLengths(src);

test(`no function of src is over ${MAX_LINES} lines but the known ones`, () => {
  const over = all.filter((f) => f.lines > MAX_LINES && !(keyOf(f.at, f.name) in KNOWN_LONG));
  // Each with where it starts, for the person who must split it.
  expect(over.map((f) => `${f.at} ${f.name}: ${f.lines} lines`)).toEqual([]);
});

test.each(Object.entries(KNOWN_LONG))('known long function %s is still %i lines, not more or less', (key, lines) => {
  const found = all.filter((f) => keyOf(f.at, f.name) === key).map((f) => f.lines);
  // Longer: split it instead. Shorter: lower its entry (or remove it, when under the limit).
  expect(Math.max(0, ...found)).toBe(lines);
  expect(lines).toBeGreaterThan(MAX_LINES);
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
