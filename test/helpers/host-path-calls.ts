/**
 * Every host operation on a path in a folder of src, read with TypeScript's own parser: calls
 * (and bare references) of `node:fs` and `node:fs/promises` (fs.x, fs.promises.x, a named
 * import), mount, unmount, bindTree and makeRslave on the daemon's Mounter
 * (src/util/mounter.ts), spawns of the standard file tools (mount, umount, rm, cp, ...), and
 * removeTree (src/util/remove-tree.ts: fs.rm of a tree by its path; removeGuestTree, which
 * never enters a symlink, is not one).
 * Each is given with the function it is in and whether it goes through the beneath helpers
 * (an argument built from them, directly or through one local constant). A spawned tool never
 * counts as going through them: it walks and names paths of its own below what it is given.
 * Used by test/unit/lint/host-paths.test.ts.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as ts from 'typescript';

/** One host operation on a path, as written in src. */
export interface HostPathCall {
  /** The file, relative to the repository (`src/pod/mounts/mounts.ts`). */
  file: string;
  /** The function it is in: `name`, `Class.method`, or `<module>` at the top level. */
  fn: string;
  /** The operation: `fs.readFileSync`, `fs.promises.open`, `mounter.bindTree`, `spawn rm`. */
  call: string;
  /** Its line now (for messages only: entries of the allow-list never name a line). */
  line: number;
  /** Its arguments' text, shortened (for messages). */
  args: string;
  /** Whether an argument is built with the beneath helpers or a held fd's /proc path. */
  beneath: boolean;
}

/**
 * What a call may be given to go through the helpers: a held directory's or file's
 * `/proc/<pid>/fd/<fd>` path, or an open made without following a symlink. joinBeneath is not
 * among them: it spells a plain path, for messages.
 */
export const BENEATH_HELPERS = new Set([
  'at',
  'fdPath',
  'openBeneath',
  'openChild',
  'openParentBeneath',
  'openMountBeneath',
  'unmountBeneath',
  'openHostPath',
  'openBindSource',
  'statBindSource',
  'openRegularAt',
  'withRegularFile',
  'readBounded',
  'RootDir',
  'listDir',
]);

/** Modules whose exports are the helpers (paths relative to src, without `.ts`). */
const HELPER_MODULES = [
  'util/beneath',
  'util/host-path',
  'pod/bind-sources',
  'storage/archive/open-regular',
  'storage/archive/resolve',
];

/**
 * fs calls that take a descriptor, never a name: they resolve no path and cannot follow a
 * symlink, so they are not host-path operations.
 */
export const FD_ONLY = new Set(
  [
    'close',
    'fstat',
    'fsync',
    'fdatasync',
    'ftruncate',
    'futimes',
    'fchmod',
    'fchown',
    'read',
    'write',
    'readv',
    'writev',
  ].flatMap((n) => [n, `${n}Sync`]),
);

/** The programs whose spawns act on paths. */
const FILE_TOOLS = new Set([
  'mount',
  'umount',
  'rm',
  'cp',
  'mv',
  'tar',
  'du',
  'chown',
  'chmod',
  'mknod',
  'setfattr',
  'getfattr',
  'mkfs.ext4',
  'e2fsck',
  'resize2fs',
  'fallocate',
]);

/** The Mounter's methods that mount or unmount. */
const MOUNTER_METHODS = new Set(['mount', 'unmount', 'bindTree', 'makeRslave']);

/** Every .ts file under `dir`, absolute. */
function tsFiles(dir: string): string[] {
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .flatMap((e) =>
      e.isDirectory() ? tsFiles(path.join(dir, e.name)) : e.name.endsWith('.ts') ? [path.join(dir, e.name)] : [],
    )
    .sort();
}

/** The name a reader knows the function around `n` by (`Class.method`, `fn`, `<module>`). */
function enclosingName(n: ts.Node, sf: ts.SourceFile): string {
  for (let p: ts.Node | undefined = n.parent; p; p = p.parent) {
    const cls = (): string => {
      const c = p?.parent;
      return c && (ts.isClassDeclaration(c) || ts.isClassExpression(c)) && c.name ? `${c.name.text}.` : '';
    };
    if (ts.isFunctionDeclaration(p) && p.name) return p.name.text;
    if (ts.isMethodDeclaration(p) || ts.isGetAccessor(p) || ts.isSetAccessor(p) || ts.isPropertyDeclaration(p))
      return `${cls()}${p.name.getText(sf)}`;
    if (ts.isConstructorDeclaration(p)) return `${cls()}constructor`;
    if ((ts.isArrowFunction(p) || ts.isFunctionExpression(p)) && p.parent) {
      const q = p.parent;
      if (ts.isVariableDeclaration(q) || ts.isPropertyAssignment(q)) return q.name.getText(sf);
    }
  }
  return '<module>';
}

/** The names a file binds to node:fs, its promises and child_process, and the helpers it imports. */
interface Imports {
  /** Local name -> the module path it stands for (`fs`, `fs.promises`, `fs.readFileSync`). */
  fs: Map<string, string>;
  spawners: Set<string>;
  helpers: Set<string>;
  /** Local names of src/util/remove-tree.ts's removeTree (fs.rm of a whole tree by its path). */
  removers: Set<string>;
}

function importsOf(sf: ts.SourceFile, relToSrc: string): Imports {
  const out: Imports = { fs: new Map(), spawners: new Set(), helpers: new Set(), removers: new Set() };
  for (const st of sf.statements) {
    if (!ts.isImportDeclaration(st) || !st.importClause || st.importClause.isTypeOnly) continue;
    const spec = (st.moduleSpecifier as ts.StringLiteral).text;
    const clause = st.importClause;
    const named = clause.namedBindings && ts.isNamedImports(clause.namedBindings) ? clause.namedBindings : undefined;
    const ns =
      clause.namedBindings && ts.isNamespaceImport(clause.namedBindings) ? clause.namedBindings.name.text : undefined;
    const base = { 'node:fs': 'fs', fs: 'fs', 'node:fs/promises': 'fs.promises', 'fs/promises': 'fs.promises' }[spec];
    if (base) {
      if (ns) out.fs.set(ns, base);
      if (clause.name) out.fs.set(clause.name.text, base);
      for (const el of named?.elements ?? []) {
        if (el.isTypeOnly) continue;
        out.fs.set(el.name.text, `${base}.${(el.propertyName ?? el.name).text}`);
      }
    } else if (spec === 'node:child_process' || spec === 'child_process') {
      for (const el of named?.elements ?? []) out.spawners.add(el.name.text);
    } else if (spec.startsWith('.')) {
      const target = path.normalize(path.join(path.dirname(relToSrc), spec));
      if (HELPER_MODULES.includes(target))
        for (const el of named?.elements ?? []) if (!el.isTypeOnly) out.helpers.add(el.name.text);
      if (target === 'util/remove-tree')
        for (const el of named?.elements ?? [])
          if ((el.propertyName ?? el.name).text === 'removeTree') out.removers.add(el.name.text);
    }
  }
  return out;
}

/** The dotted name an expression spells (`fs.promises.open`), or undefined. */
function dotted(e: ts.Expression): string | undefined {
  if (ts.isIdentifier(e)) return e.text;
  if (ts.isPropertyAccessExpression(e)) {
    const left = dotted(e.expression);
    return left === undefined ? undefined : `${left}.${e.name.text}`;
  }
  return undefined;
}

/** The fs operation `e` names (`fs.promises.open`), or undefined when it is not one. */
function fsOperation(e: ts.Expression, imports: Imports): string | undefined {
  const name = dotted(e);
  if (!name) return undefined;
  const [head, ...rest] = name.split('.');
  const base = imports.fs.get(head);
  if (!base) return undefined;
  const op = [base, ...rest].join('.');
  const last = op.split('.').pop() as string;
  // The module itself, its promises object and its constants are not operations.
  if (op === 'fs' || op === 'fs.promises' || /^fs\.(promises\.)?constants\b/.test(op)) return undefined;
  if (!/^[a-z]/.test(last)) return undefined; // classes and types (fs.Stats, fs.Dirent)
  return op;
}

/** Whether `e` is built with a helper or a held fd's /proc path, looking through local constants once. */
function usesBeneath(e: ts.Node, imports: Imports, consts: Map<string, ts.Expression>, depth = 0): boolean {
  let found = false;
  const visit = (n: ts.Node): void => {
    if (found) return;
    if (ts.isIdentifier(n)) {
      if (imports.helpers.has(n.text) && BENEATH_HELPERS.has(n.text)) found = true;
      else if (depth === 0 && consts.has(n.text)) {
        found = usesBeneath(consts.get(n.text) as ts.Expression, imports, consts, depth + 1);
      }
    } else if (ts.isTemplateExpression(n) || ts.isNoSubstitutionTemplateLiteral(n) || ts.isStringLiteral(n)) {
      if (/^\/proc\/(self|\$\{)/.test(ts.isTemplateExpression(n) ? n.head.text : n.text)) {
        const text = n.getText();
        if (/\/fd\//.test(text)) found = true;
      }
    }
    ts.forEachChild(n, visit);
  };
  visit(e);
  return found;
}

/** The function (or file) a node belongs to. */
function scopeOf(n: ts.Node): ts.Node {
  let p = n.parent;
  while (p && !ts.isFunctionLike(p) && !ts.isSourceFile(p)) p = p.parent;
  return p ?? n.getSourceFile();
}

/**
 * The `const x = ...` initializers visible where `n` is: those of the functions around it and
 * of the file, the innermost first, each taken from its own body only (not a nested function's).
 */
function constsAround(n: ts.Node): Map<string, ts.Expression> {
  const out = new Map<string, ts.Expression>();
  for (let scope: ts.Node = scopeOf(n); ; scope = scopeOf(scope)) {
    const own = scope;
    const visit = (c: ts.Node): void => {
      if (ts.isVariableDeclaration(c) && ts.isIdentifier(c.name) && c.initializer && scopeOf(c) === own) {
        const isConst = (ts.getCombinedNodeFlags(c) & ts.NodeFlags.Const) !== 0;
        if (isConst && !out.has(c.name.text)) out.set(c.name.text, c.initializer);
      }
      if (c === own || !ts.isFunctionLike(c)) ts.forEachChild(c, visit);
    };
    visit(own);
    if (ts.isSourceFile(scope)) return out;
  }
}

/** The host-path operations of one source text (`file`: its name in the answers, relative to the repository). */
export function hostPathCallsOf(text: string, file: string): HostPathCall[] {
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
  const imports = importsOf(sf, file.replace(/^src\//, ''));
  const out: HostPathCall[] = [];
  const add = (n: ts.Node, call: string, args: readonly ts.Node[], mayBeBeneath = true): void => {
    out.push({
      file,
      fn: enclosingName(n, sf),
      call,
      line: sf.getLineAndCharacterOfPosition(n.getStart(sf)).line + 1,
      args: args
        .map((a) => a.getText(sf))
        .join(', ')
        .replace(/\s+/g, ' ')
        .slice(0, 100),
      beneath: mayBeBeneath && args.some((a) => usesBeneath(a, imports, constsAround(n))),
    });
  };
  const visit = (n: ts.Node): void => {
    if (ts.isCallExpression(n)) {
      const op = fsOperation(n.expression, imports);
      const last = op?.split('.').pop() as string;
      if (op && !FD_ONLY.has(last)) add(n, op, n.arguments);
      const callee = n.expression;
      if (ts.isPropertyAccessExpression(callee) && MOUNTER_METHODS.has(callee.name.text)) {
        if (/mounter/i.test(callee.expression.getText(sf))) add(n, `mounter.${callee.name.text}`, n.arguments);
      }
      if (ts.isIdentifier(callee) && imports.removers.has(callee.text)) add(n, 'removeTree', n.arguments, false);
      const first = n.arguments[0];
      if (first && ts.isStringLiteral(first) && FILE_TOOLS.has(first.text)) {
        const name = dotted(callee)?.split('.').pop() ?? '';
        if (imports.spawners.has(name) || /^(exec|spawn|run)/i.test(name))
          add(n, `spawn ${first.text}`, n.arguments, false);
      }
    } else if (ts.isPropertyAccessExpression(n) || ts.isIdentifier(n)) {
      // A bare reference handed on as a function (`.filter(fs.existsSync)`) is an operation too.
      const p = n.parent;
      const isCallee = ts.isCallExpression(p) && p.expression === n;
      const isInner = ts.isPropertyAccessExpression(p) && p.expression === n;
      const isImport = ts.isImportSpecifier(p) || ts.isNamespaceImport(p) || ts.isImportClause(p);
      const isName = ts.isPropertyAccessExpression(p) && p.name === n;
      if (!isCallee && !isInner && !isImport && !isName && !ts.isTypeReferenceNode(p) && !ts.isQualifiedName(p)) {
        const op = fsOperation(n as ts.Expression, imports);
        const last = op?.split('.').pop() as string;
        if (op && !FD_ONLY.has(last)) add(n, `${op} (reference)`, []);
      }
    }
    ts.forEachChild(n, visit);
  };
  visit(sf);
  return out;
}

/** The host-path operations of every file under the given folders of the repository at `root`. */
export function hostPathCalls(root: string, folders: string[]): HostPathCall[] {
  return folders.flatMap((folder) =>
    tsFiles(path.join(root, folder)).flatMap((abs) =>
      hostPathCallsOf(fs.readFileSync(abs, 'utf8'), path.relative(root, abs).split(path.sep).join('/')),
    ),
  );
}
