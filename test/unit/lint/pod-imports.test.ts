/**
 * The import graph inside src/pod and its folders (type-only imports counted: they tie the
 * modules together for the reader as much as value imports do): no file imports itself back
 * through others; pod/types, the pod layer's door for types, is a leaf: it imports nothing
 * of src/pod but modules of plain types that import nothing of src/pod themselves; and
 * src/pod/lifecycle is above the other folders: none of them imports it (eslint.config.js
 * holds the same rule, for the editor); and the folders import down: no two import each
 * other, directly or round a longer circle (but for the socket relays' known edge). The graph
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

/**
 * The imports of `graph` from a folder of src/pod other than lifecycle into lifecycle, as
 * `from -> to` (a file at the top of src/pod, the manager's side, may import it).
 */
function importsOfLifecycle(graph: Map<string, string[]>): string[] {
  const out: string[] = [];
  for (const [f, imports] of graph) {
    const folder = f.includes('/') ? f.split('/')[0] : undefined;
    if (folder === undefined || folder === 'lifecycle') continue;
    for (const g of imports) if (g.startsWith('lifecycle/')) out.push(`${f} -> ${g}`);
  }
  return out;
}

/**
 * File imports left out of the folders' graph, each with its reason. None now: the socket
 * relays that tied mounts and network together are the VM share's (src/vm/share).
 */
const KNOWN_FOLDER_EDGES = new Set<string>();

/** The graph of the folders of src/pod: folder -> the other folders its files import (but `known`). */
function folderGraph(graph: Map<string, string[]>, known: Set<string> = KNOWN_FOLDER_EDGES): Map<string, string[]> {
  const folders = new Map<string, Set<string>>();
  for (const [f, imports] of graph) {
    if (!f.includes('/')) continue;
    const from = f.split('/')[0];
    const to = folders.get(from) ?? new Set<string>();
    folders.set(from, to);
    for (const g of imports)
      if (g.includes('/') && g.split('/')[0] !== from && !known.has(`${f} -> ${g}`)) to.add(g.split('/')[0]);
  }
  return new Map([...folders].map(([f, to]) => [f, [...to].sort()]));
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

  test("finds a folder's import of lifecycle, and allows lifecycle's own and the top's", () => {
    const graph = new Map([
      ['records/registry.ts', ['lifecycle/restart.ts', 'io/logs.ts']],
      ['io/exec-run.ts', ['records/registry.ts']],
      ['lifecycle/lifecycle.ts', ['lifecycle/monitor.ts', 'records/registry.ts']],
      ['manager.ts', ['lifecycle/lifecycle.ts']],
    ]);
    expect(importsOfLifecycle(graph)).toEqual(['records/registry.ts -> lifecycle/restart.ts']);
    graph.set('records/registry.ts', ['io/logs.ts']);
    expect(importsOfLifecycle(graph)).toEqual([]);
  });

  test('no folder but lifecycle imports src/pod/lifecycle: lifecycle is above them', () => {
    expect(importsOfLifecycle(podGraph())).toEqual([]);
  });

  test('reads the folders, and finds a circle between them', () => {
    const files = new Map([
      ['records/registry.ts', ['io/logs.ts', 'types.ts']],
      ['io/attach.ts', ['records/registry.ts', 'io/logs.ts']],
      ['io/logs.ts', []],
      ['types.ts', []],
    ]);
    expect(folderGraph(files)).toEqual(
      new Map([
        ['records', ['io']],
        ['io', ['records']],
      ]),
    );
    expect(findCycle(folderGraph(files))).toEqual(['records', 'io', 'records']);
    expect(findCycle(folderGraph(files, new Set(['io/attach.ts -> records/registry.ts'])))).toBeUndefined();
  });

  test('its folders import down: no circle between them', () => {
    const graph = podGraph();
    for (const edge of KNOWN_FOLDER_EDGES) {
      const [from, to] = edge.split(' -> ');
      expect([edge, graph.get(from)]).toEqual([edge, expect.arrayContaining([to])]);
    }
    expect(findCycle(folderGraph(graph))).toBeUndefined();
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
