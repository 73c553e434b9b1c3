/**
 * Formatting is prettier's (.prettierrc.json), checked by `npm run lint`: the width is at most
 * 120 columns, and a file laid out otherwise fails the check. Each snippet goes through
 * prettier's own CLI as if it were a file of src, with the project's config, as
 * `prettier --check` treats the files. (Its Node API loads itself with a dynamic import(),
 * which jest's module sandbox does not run.)
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

const root = path.resolve(__dirname, '../../..');
const bin = path.join(root, 'node_modules/.bin/prettier');

/** Whether prettier finds `source`, as src/zz.ts, laid out as it would lay it out. */
function formatted(source: string): boolean {
  const r = spawnSync(bin, ['--check', '--stdin-filepath', 'src/zz.ts'], { cwd: root, input: source });
  return r.status === 0;
}

/** `source` as prettier lays it out. */
function format(source: string): string {
  const r = spawnSync(bin, ['--stdin-filepath', 'src/zz.ts'], { cwd: root, input: source, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(r.stderr);
  return r.stdout;
}

describe('formatting', () => {
  it('uses a width of at most 120 columns', () => {
    const config = JSON.parse(fs.readFileSync(path.join(root, '.prettierrc.json'), 'utf8'));
    expect(config.printWidth).toBeLessThanOrEqual(120);
  });

  it('fails a line longer than the width, and passes it once broken', () => {
    const args = Array.from({ length: 12 }, (_, i) => `argumentNumber${i}`).join(', ');
    const long = `export const x = call(${args});\n`;
    expect(long.length).toBeGreaterThan(120);
    expect(formatted(long)).toBe(false);
    const fixed = format(long);
    expect(Math.max(...fixed.split('\n').map((l) => l.length))).toBeLessThanOrEqual(120);
    expect(formatted(fixed)).toBe(true);
  });

  it("fails double quotes, the project's style being single ones", () => {
    expect(formatted('export const s = "a";\n')).toBe(false);
    expect(formatted("export const s = 'a';\n")).toBe(true);
  });

  it('is checked by npm run lint over src, test and bench', () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
    expect(pkg.scripts.lint).toMatch(/prettier --check src test bench/);
  });
});
