/** Facts about this package read from package.json and its place on disk. */
import * as fs from 'node:fs';
import * as path from 'node:path';

/** The repository root (where package.json is), whether running from src/ (ts) or dist/src/. */
export const PACKAGE_ROOT: string = (() => {
  let dir = __dirname;
  while (!fs.existsSync(path.join(dir, 'package.json'))) {
    const up = path.dirname(dir);
    if (up === dir) throw new Error('package.json not found above ' + __dirname);
    dir = up;
  }
  return dir;
})();

/** podvisor's version from package.json. */
export const PODVISOR_VERSION: string = (
  JSON.parse(fs.readFileSync(path.join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string }
).version;
