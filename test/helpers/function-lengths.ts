/**
 * The length in lines of every function of the TypeScript under a folder, read with
 * TypeScript's own parser: function declarations and expressions, arrow functions, methods,
 * accessors and constructors, each from its first line to its last (nested functions counted
 * in their outer function too, as a reader sees them). Used by
 * test/unit/lint/function-length.test.ts.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as ts from 'typescript';

/** One function: where it starts and how many lines it spans. */
export interface FunctionLength {
  /** `api/v1.41/containers.ts:12`, relative to the folder read. */
  at: string;
  /** Its name, the variable or property it is assigned to, or `<anonymous>`. */
  name: string;
  lines: number;
}

/** Every .ts file under `dir`, absolute. */
function tsFiles(dir: string): string[] {
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .flatMap((e) =>
      e.isDirectory() ? tsFiles(path.join(dir, e.name)) : e.name.endsWith('.ts') ? [path.join(dir, e.name)] : [],
    )
    .sort();
}

/** The name a reader knows a function by. */
function nameOf(n: ts.FunctionLikeDeclaration, sf: ts.SourceFile): string {
  if (n.name) return n.name.getText(sf);
  if (ts.isConstructorDeclaration(n)) return 'constructor';
  const p = n.parent;
  if (ts.isVariableDeclaration(p) || ts.isPropertyAssignment(p) || ts.isPropertyDeclaration(p))
    return p.name.getText(sf);
  return '<anonymous>';
}

/** The functions of one source text (`rel`: its name in the answers). */
export function functionLengthsOf(text: string, rel: string): FunctionLength[] {
  const sf = ts.createSourceFile(rel, text, ts.ScriptTarget.Latest, true);
  const out: FunctionLength[] = [];
  const visit = (n: ts.Node): void => {
    if (ts.isFunctionLike(n) && 'body' in n && n.body) {
      const first = sf.getLineAndCharacterOfPosition(n.getStart(sf)).line;
      const last = sf.getLineAndCharacterOfPosition(n.getEnd()).line;
      out.push({
        at: `${rel}:${first + 1}`,
        name: nameOf(n as ts.FunctionLikeDeclaration, sf),
        lines: last - first + 1,
      });
    }
    ts.forEachChild(n, visit);
  };
  visit(sf);
  return out;
}

/** The functions of every .ts file under `dir`, longest first. */
export function functionLengths(dir: string): FunctionLength[] {
  return tsFiles(dir)
    .flatMap((f) => functionLengthsOf(fs.readFileSync(f, 'utf8'), path.relative(dir, f)))
    .sort((a, b) => b.lines - a.lines || a.at.localeCompare(b.at));
}
