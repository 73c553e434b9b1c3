/**
 * The creation service depends on no front: nothing that src/engine imports, directly or
 * through other modules, and nothing that the daemon's wiring of it (src/daemon/creation-engine.ts)
 * imports, is a module of src/api. The fronts call the engine, never the other way round. Read
 * over the file graph of src with TypeScript's own scanner (test/helpers/import-graph.ts).
 */
import * as path from 'node:path';
import { fileGraph, type FolderEdge } from '../../helpers/import-graph';

const src = path.resolve(__dirname, '../../../src');
const graph = fileGraph(src);

/** Every file of src that `roots` reach, each with the chain of imports that reaches it. */
function reached(roots: string[], edges: FolderEdge[]): Map<string, string[]> {
  const out = new Map<string, FolderEdge[]>();
  for (const e of edges) out.set(e.from, [...(out.get(e.from) ?? []), e]);
  const chains = new Map<string, string[]>(roots.map((r) => [r, [r]]));
  const queue = [...roots];
  while (queue.length) {
    const file = queue.shift()!;
    for (const e of out.get(file) ?? []) {
      if (chains.has(e.to)) continue;
      chains.set(e.to, [...chains.get(file)!, `${e.to} (${e.at})`]);
      queue.push(e.to);
    }
  }
  return chains;
}

/** The chains from `roots` that end in src/api. */
function intoFronts(roots: string[]): string[] {
  return [...reached(roots, graph).entries()].filter(([f]) => f.startsWith('api/')).map(([, c]) => c.join(' → '));
}

const engineFiles = [...new Set(graph.map((e) => e.from))].filter((f) => f.startsWith('engine/'));

test('src/engine reaches no module of src/api', () => {
  expect(engineFiles.length).toBeGreaterThan(5);
  expect(intoFronts(engineFiles)).toEqual([]);
});

test("the daemon's wiring of the creation service reaches no module of src/api", () => {
  expect(intoFronts(['daemon/creation-engine.ts'])).toEqual([]);
});

test('the walk finds a front where there is one: the daemon layers reach the Docker front', () => {
  expect(intoFronts(['daemon/layers.ts'])).toEqual(
    expect.arrayContaining([
      expect.stringMatching(/^daemon\/layers\.ts → api\/v1\.41\/pod-containers\.ts \(src\/daemon\/layers\.ts:\d+\)/),
    ]),
  );
});
