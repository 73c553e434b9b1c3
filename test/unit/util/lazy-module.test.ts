/**
 * src/util/lazy-module.ts: a package is loaded at its first use, once; and the packages only
 * some requests need are not imported by the daemon's code at load time (the restart's first
 * answer waits for everything imported).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { lazyModule } from '../../../src/util/lazy-module';

test('loads the module at the first call, once, and hands out the same one', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pv-lazy-'));
  try {
    const file = path.join(dir, 'counted.js');
    fs.writeFileSync(
      file,
      'globalThis.__pvLazyLoads = (globalThis.__pvLazyLoads || 0) + 1; module.exports = { at: globalThis.__pvLazyLoads };',
    );
    const g = globalThis as { __pvLazyLoads?: number };
    const get = lazyModule<{ at: number }>(file);
    expect(g.__pvLazyLoads).toBeUndefined();
    const first = get();
    expect(first).toEqual({ at: 1 });
    expect(get()).toBe(first);
    expect(g.__pvLazyLoads).toBe(1);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('no module of src imports the build-only and pod-file-only parsers at load time', () => {
  const eager: string[] = [];
  const walk = (dir: string): void => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (
        p.endsWith('.ts') &&
        /^import (?!type)[^;]* from '(dockerfile-ast|yaml)';/m.test(fs.readFileSync(p, 'utf8'))
      )
        eager.push(path.relative(path.resolve(__dirname, '../../..'), p));
    }
  };
  walk(path.resolve(__dirname, '../../../src'));
  expect(eager).toEqual([]);
});
