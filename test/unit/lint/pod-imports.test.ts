/**
 * The import graph inside src/pod and its folders (type-only imports counted: they tie the
 * modules together for the reader as much as value imports do): no file imports itself back
 * through others, and pod/types, the pod layer's door for types, is a leaf: it imports nothing
 * of src/pod but modules of plain types that import nothing of src/pod themselves. The graph
 * is read with TypeScript's own pre-processor (every import and export-from of a file); its
 * nodes are paths under src/pod (`types.ts`, `health/probe-types.ts`).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as ts from 'typescript';

const POD = path.resolve(__dirname, '../../../src/pod');

/**
 * The src/pod files a source text in `dir` imports (relative imports that land in src/pod or
 * one of its folders), as paths under src/pod.
 */
function podImports(text: string, dir = POD): string[] {
  const out = new Set<string>();
  for (const ref of ts.preProcessFile(text, true, true).importedFiles) {
    if (!ref.fileName.startsWith('.')) continue;
    const rel = path.relative(POD, path.resolve(dir, ref.fileName));
    if (rel.startsWith('..')) continue;
    out.add(`${rel.split(path.sep).join('/')}.ts`);
  }
  return [...out];
}

/** Every .ts file under src/pod, as paths under it (`types.ts`, `health/probes.ts`). */
function podFiles(rel = ''): string[] {
  const out: string[] = [];
  for (const e of fs.readdirSync(path.join(POD, rel), { withFileTypes: true })) {
    const child = rel ? `${rel}/${e.name}` : e.name;
    if (e.isDirectory()) out.push(...podFiles(child));
    else if (e.name.endsWith('.ts')) out.push(child);
  }
  return out;
}

/** The import graph of src/pod: path under src/pod -> the src/pod files it imports. */
function podGraph(): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const f of podFiles()) {
    graph.set(f, podImports(fs.readFileSync(path.join(POD, f), 'utf8'), path.dirname(path.join(POD, f))));
  }
  return graph;
}

/** One import circle of `graph` (its files in order, the first repeated at the end), or undefined. */
function findCycle(graph: Map<string, string[]>): string[] | undefined {
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const visit = (f: string): string[] | undefined => {
    if (state.get(f) === 'done') return undefined;
    if (state.get(f) === 'open') return [...stack.slice(stack.indexOf(f)), f];
    state.set(f, 'open');
    stack.push(f);
    for (const g of graph.get(f) ?? []) {
      const found = visit(g);
      if (found) return found;
    }
    stack.pop();
    state.set(f, 'done');
    return undefined;
  };
  for (const f of graph.keys()) {
    const found = visit(f);
    if (found) return found;
  }
  return undefined;
}

describe('the import graph of src/pod', () => {
  test('reads imports, type-only ones and re-exports included', () => {
    const text = [
      "import type { A } from './a';",
      "import { B } from './b';",
      "export type { C } from './c';",
      "export * from './d';",
      "import { E } from '../vm/types';",
      "import * as fs from 'node:fs';",
      "import type { F } from './health/probe-types';",
    ].join('\n');
    expect(podImports(text).sort()).toEqual(['a.ts', 'b.ts', 'c.ts', 'd.ts', 'health/probe-types.ts']);
    expect(podImports("import { T } from '../types';", path.join(POD, 'health'))).toEqual(['types.ts']);
  });

  test('finds a circle, and none in a graph without one', () => {
    const circle = new Map([
      ['types.ts', ['health.ts']],
      ['health.ts', ['exec-run.ts']],
      ['exec-run.ts', ['types.ts']],
      ['leaf.ts', []],
    ]);
    expect(findCycle(circle)).toEqual(['types.ts', 'health.ts', 'exec-run.ts', 'types.ts']);
    expect(findCycle(new Map([...circle, ['exec-run.ts', ['leaf.ts']]]))).toBeUndefined();
  });

  test('has no circle', () => {
    expect(findCycle(podGraph())).toBeUndefined();
  });

  test('reads the real tree, its folders included', () => {
    const graph = podGraph();
    expect(graph.get('types.ts')).toEqual(expect.arrayContaining(['health/probe-types.ts', 'mounts/mount-types.ts']));
  });

  test('pod/types is a leaf: only modules of plain types that import nothing of src/pod', () => {
    const graph = podGraph();
    for (const f of graph.get('types.ts') ?? []) {
      expect([f, graph.get(f)]).toEqual([f, []]);
      expect(fs.readFileSync(path.join(POD, f), 'utf8')).not.toMatch(/^export (async )?(function|class|const|let)\b/m);
    }
  });
});
