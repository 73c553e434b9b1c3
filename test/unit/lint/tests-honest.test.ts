/**
 * Tests say what they check (issue 68): eslint.config.js's `tests/honest` rules
 * (eslint-plugin-jest) refuse, in test/, a case without an assertion (expect, or a helper whose
 * name begins with `expect`), a focused case, a skipped one but through test/helpers/skip.ts
 * (whose skips carry their reasons in their names), and an expect in a branch. Each fires here.
 */
import * as path from 'node:path';
import { ESLint } from 'eslint';

const root = path.resolve(__dirname, '../../..');

// The project's config, loaded here and handed over (ESLint would import() it, which jest's
// module sandbox does not run).
// eslint-disable-next-line @typescript-eslint/no-require-imports
const config = require(path.join(root, 'eslint.config.js'));
const eslint = new ESLint({ cwd: root, overrideConfigFile: true, overrideConfig: config });

/** The jest rules' findings (and the `.skip`/`.only` one) for `text` linted as a test file of test/unit, sorted. */
async function findings(text: string): Promise<string[]> {
  const [result] = await eslint.lintText(text, { filePath: path.join(root, 'test/unit/x/made-up.test.ts') });
  return result.messages
    .map((m) => m.ruleId ?? m.message)
    .filter((r) => r.startsWith('jest/') || r === 'no-restricted-syntax')
    .sort();
}

test('a case without an assertion, focused, skipped or asserting in a branch is refused', async () => {
  expect(await findings("test('nothing', () => { const x = 1 + 1; void x; });\n")).toEqual(['jest/expect-expect']);
  expect(await findings("test.only('focused', () => { expect(1).toBe(1); });\n")).toEqual([
    'jest/no-focused-tests',
    'no-restricted-syntax',
  ]);
  expect(await findings("it.skip('skipped', () => { expect(1).toBe(1); });\n")).toEqual([
    'jest/no-disabled-tests',
    'no-restricted-syntax',
  ]);
  expect(await findings("describe.skip('skipped', () => { it('x', () => { expect(1).toBe(1); }); });\n")).toEqual([
    'jest/no-disabled-tests',
    'no-restricted-syntax',
  ]);
  expect(await findings("(process.env.X ? test : test.skip)('chosen', () => { expect(1).toBe(1); });\n")).toEqual([
    'no-restricted-syntax',
  ]);
  expect(
    await findings("test('branch', () => { if (process.env.X) expect(1).toBe(1); else expect(2).toBe(2); });\n"),
  ).toEqual(['jest/no-conditional-expect', 'jest/no-conditional-expect']);
});

test('an assertion helper named expect..., and a skip through testIf with its reason, pass', async () => {
  const text = [
    "import { testIf } from '../../helpers/skip';",
    'function expectTwo(n: number): void { expect(n).toBe(2); }',
    "test('by a helper', () => { expectTwo(1 + 1); });",
    "testIf(false, 'this host has no such thing', 'where it has', () => { expect(1).toBe(1); });",
    '',
  ].join('\n');
  expect(await findings(text)).toEqual([]);
});
