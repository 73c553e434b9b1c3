/**
 * No folder of src imports another that imports it back, directly or round a longer circle:
 * the layers of docs/architecture.md run one way. The graph is read with
 * TypeScript's own scanner, type-only imports included (test/helpers/import-graph.ts); the
 * two API fronts api/v1.41 and api/native count as folders of their own, every other folder
 * as its top folder under src. Within the folders, no file imports another that imports it
 * back either: the same check over the file graph, with no list of exceptions.
 */
import * as path from 'node:path';
import {
  describeCycle,
  fileGraph,
  findCycles,
  folderGraph,
  folderOf,
  type FolderEdge,
} from '../../helpers/import-graph';

const src = path.resolve(__dirname, '../../../src');

/**
 * Folder edges that close a circle today and are removed by work in flight, each with the
 * import that makes it. Each entry must still exist (the last test): when its import goes,
 * its entry goes too, so this list only shrinks.
 */
const KNOWN: Array<{ from: string; to: string; why: string }> = [];

const isKnown = (e: FolderEdge) => KNOWN.some((k) => k.from === e.from && k.to === e.to);

test('the folders of src import one another without a circle', () => {
  const cycles = findCycles(folderGraph(src).filter((e) => !isKnown(e)));
  // The circles, each with the import that makes each step, for the person who must break one.
  expect(cycles.map(describeCycle)).toEqual([]);
});

test('the files of src import one another without a circle', () => {
  expect(findCycles(fileGraph(src)).map(describeCycle)).toEqual([]);
});

// jest refuses an empty table: the check runs only while the list has entries.
if (KNOWN.length > 0) {
  test.each(KNOWN)('the known edge $from → $to is still there (else remove it from KNOWN)', ({ from, to }) => {
    expect(folderGraph(src).some((e) => e.from === from && e.to === to)).toBe(true);
  });
}

describe('the checker', () => {
  test('reads the real file graph: an import of one file from another is an edge, with its line', () => {
    const found = fileGraph(src).find((e) => e.from === 'api/cri/runtime.ts' && e.to === 'api/cri/records.ts');
    expect(found?.at).toMatch(/^src\/api\/cri\/runtime\.ts:\d+$/);
  });

  const edge = (from: string, to: string): FolderEdge => ({ from, to, at: `src/${from}/x.ts:1` });

  test('finds a circle round three folders, and names each import', () => {
    const graph = [edge('pod', 'vm'), edge('vm', 'storage'), edge('storage', 'pod'), edge('api/v1.41', 'pod')];
    expect(findCycles(graph).map(describeCycle)).toEqual([
      'pod → vm (src/pod/x.ts:1) → storage (src/vm/x.ts:1) → pod (src/storage/x.ts:1)',
    ]);
  });

  test('finds a circle between two folders beside a chain without one', () => {
    const graph = [edge('api/v1.41', 'builder'), edge('builder', 'api/v1.41'), edge('builder', 'util')];
    expect(findCycles(graph).map(describeCycle)).toEqual([
      'api/v1.41 → builder (src/api/v1.41/x.ts:1) → api/v1.41 (src/builder/x.ts:1)',
    ]);
  });

  test('finds none in a graph that runs one way', () => {
    expect(findCycles([edge('api/native', 'pod'), edge('pod', 'vm'), edge('api/native', 'vm')])).toEqual([]);
  });

  test('reads the real graph: an import of a front from the daemon is an edge, with its line', () => {
    const found = folderGraph(src).find((e) => e.from === 'daemon' && e.to === 'api/v1.41');
    expect(found?.at).toMatch(/^src\/daemon\/[\w-]+\.ts:\d+$/);
  });

  test.each([
    ['api/v1.41/kit/params.ts', 'api/v1.41'],
    ['api/native/views.ts', 'api/native'],
    ['api/http-status.ts', 'api/http-status.ts'],
    ['vm/qemu/argv.ts', 'vm'],
    ['errors.ts', 'errors.ts'],
  ])('%s belongs to folder %s', (file, folder) => {
    expect(folderOf(file)).toBe(folder);
  });
});
