/**
 * Docker's create body stays in the Docker front (src/api/v1.41, which parses it in its docker/
 * folder): every other front, the middle and the services speak the neutral ContainerRequest
 * (src/translate/request/container-request.ts). Two guards: eslint.config.js's `docker-body/src`
 * rule refuses a `CreateBody` name (the type, its schema, its parser) in code anywhere else,
 * and this test finds the word in no file of src outside that folder, comments included
 * (what `grep -rn CreateBody src` shows).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ESLint } from 'eslint';

const root = path.resolve(__dirname, '../../..');
const SRC = path.join(root, 'src');
/** Where the Docker create body may be named. */
const ALLOWED = ['api/v1.41/'];

// The project's config, loaded here and handed over (ESLint would import() it, which jest's
// module sandbox does not run).
// eslint-disable-next-line @typescript-eslint/no-require-imports
const config = require(path.join(root, 'eslint.config.js'));
const eslint = new ESLint({ cwd: root, overrideConfigFile: true, overrideConfig: config });

/** The docker-body rule's findings for `text` linted as the file `filePath`. */
async function findings(filePath: string, text: string): Promise<string[]> {
  const [result] = await eslint.lintText(text, { filePath });
  return result.messages.filter((m) => m.ruleId === 'no-restricted-syntax').map((m) => m.message);
}

/** The files of src (relative, `/`-separated) whose text names `word` outside the allowed folders. */
function namedOutside(word: string): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile()) {
        const rel = path.relative(SRC, p).split(path.sep).join('/');
        if (!ALLOWED.some((a) => rel.startsWith(a)) && fs.readFileSync(p, 'utf8').includes(word)) out.push(rel);
      }
    }
  };
  walk(SRC);
  return out;
}

const USE =
  "import type { CreateBody } from '../api/v1.41/docker/docker-schema';\nexport const f = (b: CreateBody) => b;\n";

describe("Docker's create body outside the Docker front", () => {
  test('is named in no file of src', () => {
    expect(namedOutside('CreateBody')).toEqual([]);
  });

  test('the search finds a name where there is one (the allowed folders hold it)', () => {
    expect(namedOutside('import')).not.toEqual([]);
    expect(fs.readFileSync(path.join(SRC, 'api/v1.41/docker/docker-schema.ts'), 'utf8')).toContain('CreateBody');
  });

  test.each([
    'src/engine/zz.ts',
    'src/api/cri/zz.ts',
    'src/api/native/zz.ts',
    'src/builder/zz.ts',
    'src/pod/zz.ts',
    'src/translate/zz.ts',
    'src/translate/request/zz.ts',
  ])('the lint rule refuses it in %s', async (file) => {
    const found = await findings(file, USE);
    expect(found.length).toBeGreaterThan(0);
    expect(found[0]).toMatch(/Docker's create body stays in src\/api\/v1.41: speak/);
  });

  test.each(['src/api/v1.41/zz.ts', 'src/api/v1.41/docker/zz.ts'])('the lint rule lets %s name it', async (file) => {
    expect(await findings(file, USE)).toEqual([]);
  });
});
