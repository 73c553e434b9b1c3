/**
 * The docs' maps stay true to the tree: README's layout table names every top-level
 * folder of the repository and every folder of src, docs/architecture.md's "Where things live"
 * names every folder of src, and every `docs/....md` a doc or README names exists (the docs
 * were split into docs/design/ and docs/performance-log.md; a name left pointing at a page that
 * is gone fails here).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

const root = path.resolve(__dirname, '../../..');
const read = (rel: string) => fs.readFileSync(path.join(root, rel), 'utf8');

/** Folders that are build outputs or tools' state, never part of the layout (.gitignore's). */
const NOT_LAYOUT = new Set(['node_modules', 'dist', 'coverage']);

const dirsOf = (rel: string) =>
  fs
    .readdirSync(path.join(root, rel), { withFileTypes: true })
    .filter((e) => e.isDirectory() && !e.name.startsWith('.') && !NOT_LAYOUT.has(e.name))
    .map((e) => e.name)
    .sort();

/** The text of README's "## Layout" section. */
function readmeLayout(): string {
  const text = read('README.md');
  const start = text.indexOf('\n## Layout\n');
  expect(start).toBeGreaterThan(0);
  const end = text.indexOf('\n## ', start + 1);
  return text.slice(start, end < 0 ? undefined : end);
}

/** The first code block of architecture.md's "## Where things live". */
function architectureLayout(): string {
  const text = read('docs/architecture.md');
  const start = text.indexOf('\n## Where things live\n');
  expect(start).toBeGreaterThan(0);
  const open = text.indexOf('```', start);
  return text.slice(open, text.indexOf('```', open + 3));
}

test.each(dirsOf('.'))("README's layout table names the top-level folder %s", (dir) => {
  expect(readmeLayout()).toContain(`\`${dir}/`);
});

test.each(dirsOf('src'))("README's layout table names src/%s", (dir) => {
  expect(readmeLayout()).toMatch(new RegExp('`src/' + dir + '[`/]'));
});

test.each(dirsOf('src'))("architecture.md's layer list names src/%s", (dir) => {
  expect(architectureLayout()).toMatch(new RegExp('^  ' + dir + '/', 'm'));
});

/** README.md and every .md under docs/. */
function docFiles(rel = 'docs'): string[] {
  const out: string[] = [];
  for (const e of fs.readdirSync(path.join(root, rel), { withFileTypes: true })) {
    const child = `${rel}/${e.name}`;
    if (e.isDirectory()) out.push(...docFiles(child));
    else if (e.name.endsWith('.md')) out.push(child);
  }
  return out;
}

test.each(['README.md', ...docFiles()])('every docs/*.md that %s names exists', (file) => {
  const named = [...read(file).matchAll(/\bdocs\/[\w/-]+\.md\b/g)].map((m) => m[0]);
  expect(named.filter((n) => !fs.existsSync(path.join(root, n)))).toEqual([]);
});

test('the checks see the real tree', () => {
  expect(dirsOf('src')).toEqual(expect.arrayContaining(['pod', 'vm', 'api']));
  expect(dirsOf('.')).toEqual(expect.arrayContaining(['src', 'docs', 'guest']));
});
