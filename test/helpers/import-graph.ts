/**
 * The folder-level import graph of src, read with TypeScript's own scanner
 * (`ts.preProcessFile`: every `import`, `import type`, `export ... from` and `import()`,
 * type-only ones included), and a search for circles in it. Used by
 * test/unit/lint/cycles.test.ts: layers import only the layers below them, so no two folders
 * may import one another, directly or round a longer circle.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as ts from 'typescript';

/** One import from a file of one folder (or file) into another: where it is written. */
export interface FolderEdge {
  from: string;
  to: string;
  /** `src/...:line` of the import that makes this edge (the first one found). */
  at: string;
}

/**
 * The folder a file of src belongs to: its top folder under src (`pod`, `storage`), except
 * that the two API fronts `api/v1.41` and `api/native` are folders of their own; a file
 * directly under src (errors.ts) or src/api is its own node (`errors.ts`, `api/http-status.ts`).
 */
export function folderOf(relToSrc: string): string {
  const parts = relToSrc.split(/[\\/]/);
  if (parts[0] === 'api' && parts.length > 2) return `api/${parts[1]}`;
  if (parts.length === 1 || (parts[0] === 'api' && parts.length === 2)) return parts.join('/');
  return parts[0];
}

/** Every .ts file under `dir`, as paths relative to it. */
function tsFiles(dir: string, rel = ''): string[] {
  const out: string[] = [];
  for (const entry of fs.readdirSync(path.join(dir, rel), { withFileTypes: true })) {
    const child = rel ? `${rel}/${entry.name}` : entry.name;
    if (entry.isDirectory()) out.push(...tsFiles(dir, child));
    else if (entry.name.endsWith('.ts')) out.push(child);
  }
  return out.sort();
}

/** The file a relative import names, relative to src (`pod/types.ts`), or the bare path if none. */
function resolve(srcDir: string, fromRel: string, spec: string): string {
  const base = path.join(path.dirname(path.join(srcDir, fromRel)), spec);
  for (const candidate of [`${base}.ts`, `${base}.d.ts`, path.join(base, 'index.ts'), base]) {
    if (fs.existsSync(candidate) && fs.statSync(candidate).isFile()) return path.relative(srcDir, candidate);
  }
  return path.relative(srcDir, base);
}

/**
 * The folder graph of the TypeScript under `srcDir`: one edge per ordered pair of different
 * folders with at least one import between them, carrying the first such import's place.
 * Imports of packages (not starting with `.`) are not ours and are left out.
 */
export function folderGraph(srcDir: string, label = 'src'): FolderEdge[] {
  return importGraph(srcDir, folderOf, label);
}

/**
 * The file graph of the TypeScript under `srcDir`: one edge per file importing another file of
 * ours (nodes are paths relative to `srcDir`, `pod/types.ts`), with the import's place.
 */
export function fileGraph(srcDir: string, label = 'src'): FolderEdge[] {
  return importGraph(srcDir, (rel) => rel, label);
}

/** The import graph of the files under `srcDir`, each file counted as the node `nodeOf` names. */
function importGraph(srcDir: string, nodeOf: (relToSrc: string) => string, label: string): FolderEdge[] {
  const edges = new Map<string, FolderEdge>();
  for (const rel of tsFiles(srcDir)) {
    const text = fs.readFileSync(path.join(srcDir, rel), 'utf8');
    const info = ts.preProcessFile(text, true, true);
    for (const ref of info.importedFiles) {
      if (!ref.fileName.startsWith('.')) continue;
      const from = nodeOf(rel);
      const to = nodeOf(resolve(srcDir, rel, ref.fileName));
      if (from === to || to.startsWith('..')) continue;
      const key = `${from}\0${to}`;
      if (edges.has(key)) continue;
      const line = text.slice(0, ref.pos).split('\n').length;
      edges.set(key, { from, to, at: `${label}/${rel}:${line}` });
    }
  }
  return [...edges.values()];
}

/** The out-edges of each node of a graph, each list sorted by target. */
function adjacency(edges: FolderEdge[]): Map<string, FolderEdge[]> {
  const out = new Map<string, FolderEdge[]>();
  for (const e of edges) {
    if (!out.has(e.from)) out.set(e.from, []);
    if (!out.has(e.to)) out.set(e.to, []);
    out.get(e.from)!.push(e);
  }
  for (const list of out.values()) list.sort((a, b) => a.to.localeCompare(b.to));
  return out;
}

/**
 * The tangles of a graph: its strongly connected components of more than one node (Tarjan's
 * algorithm), each as its sorted nodes, in the order they close. Every node of one reaches
 * every other; an empty list means the graph has no circle.
 */
export function tangles(edges: FolderEdge[]): string[][] {
  return components(adjacency(edges))
    .filter((c) => c.length > 1)
    .map((c) => [...c].sort());
}

/** Tarjan: the strongly connected components of a graph, in the order they close. */
function components(out: Map<string, FolderEdge[]>): string[][] {
  const nodes = [...out.keys()].sort();
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (v: string): void => {
    index.set(v, index.size);
    low.set(v, index.get(v)!);
    stack.push(v);
    onStack.add(v);
    for (const e of out.get(v)!) {
      if (!index.has(e.to)) {
        visit(e.to);
        low.set(v, Math.min(low.get(v)!, low.get(e.to)!));
      } else if (onStack.has(e.to)) {
        low.set(v, Math.min(low.get(v)!, index.get(e.to)!));
      }
    }
    if (low.get(v) === index.get(v)) {
      const component: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        component.push(w);
      } while (w !== v);
      found.push(component);
    }
  };
  for (const v of nodes) if (!index.has(v)) visit(v);
  return found;
}

/**
 * The circles of a graph: for each strongly connected component of more than one node
 * (Tarjan's algorithm), one circle through it, as the edges that make it, in order. An empty
 * list means the graph has no circle.
 */
export function findCycles(edges: FolderEdge[]): FolderEdge[][] {
  const out = adjacency(edges);
  const cycles: FolderEdge[][] = [];
  // One circle per component: the shortest way back to its first node (breadth-first within it).
  for (const component of components(out)) {
    if (component.length < 2) continue;
    const members = new Set(component);
    const start = [...component].sort()[0];
    const via = new Map<string, FolderEdge>();
    const queue = [start];
    let closing: FolderEdge | undefined;
    while (queue.length > 0 && !closing) {
      const v = queue.shift()!;
      for (const e of out.get(v)!) {
        if (!members.has(e.to)) continue;
        if (e.to === start) {
          closing = e;
          break;
        }
        if (!via.has(e.to)) {
          via.set(e.to, e);
          queue.push(e.to);
        }
      }
    }
    const path: FolderEdge[] = [closing!];
    for (let v = closing!.from; v !== start; v = via.get(v)!.from) path.unshift(via.get(v)!);
    cycles.push(path);
  }
  return cycles;
}

/** A circle as a person reads it: `a → b (src/a/x.ts:3) → a (src/b/y.ts:7)`. */
export function describeCycle(cycle: FolderEdge[]): string {
  return [cycle[0].from, ...cycle.map((e) => `${e.to} (${e.at})`)].join(' → ');
}
