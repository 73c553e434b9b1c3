/**
 * The file-level call graph of the guest agent's C files (guest/agent/*.c), for
 * test/unit/lint/guest-cycles.test.ts: an edge from file A to file B when A names a
 * non-static function that B defines. Circles are then found with the same search as the
 * TypeScript import graph (test/helpers/import-graph.ts).
 *
 * The reader is a small lexer, not a C parser. What it does:
 *  - comments, string and character literals and preprocessor lines (with their `\`
 *    continuations) are blanked first, newlines kept, so nothing in them counts;
 *  - a function definition is a `{` at brace depth 0 whose head (the text since the last
 *    top-level `;`, `}` or preprocessor line) ends in `name(...)`, optionally followed by
 *    `__attribute__((...))`, and holds no `=` (so `static const x[] = {` is data); it is
 *    static when its head says `static`;
 *  - a use is any identifier that names another file's non-static function, wherever it is
 *    written (a call, a function pointer handed on, a prototype), unless it follows `.` or `->`
 *    (a field), the file defines a function of that name itself, or the function it is
 *    written in uses that name as a variable somewhere (`name[`, `name.`, `name->`, `name =`:
 *    a local such as process_start's `int fail[2]`, which no function name can be).
 * Its limits: calls made through macros (the `#define` lines are blanked) and through
 * function pointers stored elsewhere are not seen; a local variable named like another
 * file's function and only ever passed whole (never indexed, assigned or dereferenced) would
 * count as a use; shared global variables (g_ctl, g_procs, g_containers) are data, not
 * functions, and make no edge; headers are not read (their static inline functions only read
 * fields).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { FolderEdge } from './import-graph';

/** A function definition found in a C file. */
export interface CFunction {
  name: string;
  file: string;
  /** 1-based line of its name. */
  line: number;
  isStatic: boolean;
  /** Offsets of its body in the text, from its `{` to one past its `}`. */
  body: [number, number];
}

/** The text with comments, literals and preprocessor lines replaced by spaces (newlines kept). */
export function blankC(text: string): string {
  const out = text.split('');
  const blank = (from: number, to: number) => {
    for (let k = from; k < to; k++) if (out[k] !== '\n') out[k] = ' ';
  };
  let i = 0;
  let lineStart = true;
  while (i < text.length) {
    const c = text[i];
    if (c === '/' && text[i + 1] === '*') {
      const end = text.indexOf('*/', i + 2);
      const stop = end < 0 ? text.length : end + 2;
      blank(i, stop);
      i = stop;
      continue;
    }
    if (c === '/' && text[i + 1] === '/') {
      const end = text.indexOf('\n', i);
      const stop = end < 0 ? text.length : end;
      blank(i, stop);
      i = stop;
      continue;
    }
    if (c === '"' || c === "'") {
      let j = i + 1;
      while (j < text.length && text[j] !== c && text[j] !== '\n') j += text[j] === '\\' ? 2 : 1;
      blank(i, j + 1);
      i = j + 1;
      lineStart = false;
      continue;
    }
    if (c === '#' && lineStart) {
      // A directive runs to the first newline not escaped by a backslash; comments in it are
      // blanked with it.
      let j = i;
      while (j < text.length && !(text[j] === '\n' && text[j - 1] !== '\\')) j++;
      blank(i, j);
      i = j;
      continue;
    }
    if (c === '\n') lineStart = true;
    else if (c !== ' ' && c !== '\t') lineStart = false;
    i++;
  }
  return out.join('');
}

const lineAt = (text: string, pos: number) => text.slice(0, pos).split('\n').length;

/** The functions a C file defines (see the module comment for how a definition is told). */
export function cFunctions(text: string, file: string): CFunction[] {
  const code = blankC(text);
  const found: CFunction[] = [];
  let depth = 0;
  let headStart = 0;
  let current: CFunction | undefined;
  for (let i = 0; i < code.length; i++) {
    const c = code[i];
    if (c === '{') {
      if (depth === 0) {
        const fn = definitionHead(code, headStart, i);
        current = fn && { name: fn.name, file, line: lineAt(code, fn.at), isStatic: fn.isStatic, body: [i, i] };
        if (current) found.push(current);
      }
      depth++;
    } else if (c === '}') {
      depth--;
      if (depth === 0) {
        headStart = i + 1;
        if (current) current.body[1] = i + 1;
        current = undefined;
      }
    } else if (c === ';' && depth === 0) {
      headStart = i + 1;
    }
  }
  return found;
}

/** The function a head (`static int f(int a)`) defines, or undefined when it is no function. */
function definitionHead(
  code: string,
  from: number,
  to: number,
): { name: string; at: number; isStatic: boolean } | undefined {
  let head = code.slice(from, to);
  if (head.includes('=')) return undefined;
  // Trailing attributes: `f(void) __attribute__((noreturn))`.
  head = head.replace(/(\s*__attribute__\s*\(\([^)]*\)\))+\s*$/, '');
  let end = head.trimEnd().length - 1;
  if (head[end] !== ')') return undefined;
  // The `(` that matches the last `)`.
  let level = 0;
  for (; end >= 0; end--) {
    if (head[end] === ')') level++;
    else if (head[end] === '(' && --level === 0) break;
  }
  const name = /([A-Za-z_]\w*)\s*$/.exec(head.slice(0, end));
  if (!name || ['if', 'while', 'for', 'switch', 'return', 'sizeof'].includes(name[1])) return undefined;
  return { name: name[1], at: from + name.index, isStatic: /\bstatic\b/.test(head.slice(0, name.index)) };
}

/** Names a function body uses as variables: indexed, assigned, or with a field taken. */
function variablesIn(body: string): Set<string> {
  return new Set([...body.matchAll(/\b([A-Za-z_]\w*)\s*(?:\[|\.|->|=(?!=))/g)].map((m) => m[1]));
}

/**
 * The call graph of C files given as name → text: one edge per ordered pair of files where
 * the first names a non-static function the second defines, at the first such place
 * (`<label>/<file>:<line>`). A name defined non-static in several files makes no edge (the
 * link would fail anyway).
 */
export function cCallGraphOf(files: Record<string, string>, label: string): FolderEdge[] {
  const defs = new Map<string, CFunction[]>();
  const byFile = new Map<string, CFunction[]>();
  for (const [file, text] of Object.entries(files)) {
    const fns = cFunctions(text, file);
    byFile.set(file, fns);
    for (const fn of fns) if (!fn.isStatic) defs.set(fn.name, [...(defs.get(fn.name) ?? []), fn]);
  }
  const edges = new Map<string, FolderEdge>();
  for (const file of Object.keys(files).sort()) {
    const fns = byFile.get(file)!;
    const own = new Set(fns.map((f) => f.name));
    const code = blankC(files[file]);
    const locals = fns.map((f) => variablesIn(code.slice(f.body[0], f.body[1])));
    for (const m of code.matchAll(/(->|\.)?\s*\b([A-Za-z_]\w*)\b/g)) {
      const name = m[2];
      if (m[1] || own.has(name)) continue;
      const inFn = fns.findIndex((f) => f.body[0] <= m.index! && m.index! < f.body[1]);
      if (inFn >= 0 && locals[inFn].has(name)) continue;
      const def = defs.get(name);
      if (!def || def.length !== 1) continue;
      const to = def[0].file;
      const key = `${file}\0${to}`;
      if (!edges.has(key))
        edges.set(key, {
          from: file,
          to,
          at: `${label}/${file}:${lineAt(code, m.index! + m[0].length - name.length)}`,
        });
    }
  }
  return [...edges.values()];
}

/** The call graph of the .c files directly in `dir` (see cCallGraphOf), labelled `label`. */
export function cCallGraph(dir: string, label: string): FolderEdge[] {
  const files: Record<string, string> = {};
  for (const name of fs.readdirSync(dir).sort()) {
    if (name.endsWith('.c')) files[name] = fs.readFileSync(path.join(dir, name), 'utf8');
  }
  return cCallGraphOf(files, label);
}
