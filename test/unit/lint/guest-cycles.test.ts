/**
 * No file of the guest agent (guest/agent/*.c) calls into another that calls back into it,
 * directly or round a longer circle: each file uses only files below it, as
 * docs/agent.md lists them. The graph is read from the C text by a small lexer
 * (test/helpers/c-call-graph.ts, whose comment gives its limits): an edge for each file that
 * names a non-static function another file defines. The circle search is the one the
 * TypeScript import graph uses (test/unit/lint/cycles.test.ts). docs/agent.md lists the
 * files bottom up, and the list is checked against the same graph.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { cCallGraph, cCallGraphOf, cFunctions } from '../../helpers/c-call-graph';
import { describeCycle, findCycles, tangles } from '../../helpers/import-graph';

const agent = path.resolve(__dirname, '../../../guest/agent');
const graph = cCallGraph(agent, 'guest/agent');

test('the files of the guest agent call one another without a circle', () => {
  // One circle per tangle, each step with the place of the call that makes it, and the files
  // of each tangle (every one reaches every other), for the person who must cut it.
  expect({ circles: findCycles(graph).map(describeCycle), tangles: tangles(graph) }).toEqual({
    circles: [],
    tangles: [],
  });
});

/** The files docs/agent.md lists under "The agent's files, bottom up", in its order. */
function documentedOrder(): string[] {
  const md = fs.readFileSync(path.resolve(__dirname, '../../../docs/agent.md'), 'utf8');
  const section = md.split(/^## /m).find((s) => s.startsWith("The agent's files, bottom up")) ?? '';
  const rows = section.split('\n').filter((line) => line.startsWith('|'));
  return rows.flatMap(
    (row) =>
      row
        .split('|')
        .slice(-2, -1)[0]
        .match(/\b\w+\.c\b/g) ?? [],
  );
}

test('docs/agent.md lists every file of the agent once, each after the files it calls', () => {
  const order = documentedOrder();
  const files = fs.readdirSync(agent).filter((name) => name.endsWith('.c'));
  expect([...order].sort()).toEqual(files.sort());
  const upward = graph.filter((e) => order.indexOf(e.to) > order.indexOf(e.from));
  expect(upward.map((e) => `${e.from} calls ${e.to}, listed after it (${e.at})`)).toEqual([]);
});

test('the reader finds the real calls between the agent files', () => {
  // A reader that found nothing would pass the test above whatever the agent holds.
  expect(graph.length).toBeGreaterThan(50);
  expect(graph.find((e) => e.from === 'main.c' && e.to === 'ops.c')?.at).toMatch(/^guest\/agent\/main\.c:\d+$/);
  expect(graph.some((e) => e.from === 'process.c' && e.to === 'container.c')).toBe(true);
});

describe('the reader', () => {
  test('tells definitions from prototypes and data, and static from non-static', () => {
    const text = [
      '#include "agent.h"',
      'void later(int a);',
      'static const int table[] = {1, 2};',
      'struct s { int x; };',
      'static int helper(int a) {',
      '  if (a) { return a; }',
      '  return 0;',
      '}',
      'void pid1_poweroff(void) __attribute__((noreturn)) {',
      '  for (;;) {}',
      '}',
      'int',
      'main(int argc, char **argv) { return helper(argc) + (argv != 0); }',
    ].join('\n');
    expect(cFunctions(text, 'x.c').map((f) => `${f.line}:${f.isStatic ? 'static ' : ''}${f.name}`)).toEqual([
      '5:static helper',
      '9:pid1_poweroff',
      '13:main',
    ]);
  });

  test('counts calls and function pointers, not comments, strings, fields, locals or own names', () => {
    const files = {
      'low.c': 'int low_fn(void) { return 1; }\nint shared(void) { return 2; }\n',
      'mid.c': [
        '/* low_fn() in a comment */',
        'static const char *s = "low_fn()";',
        'int mid_fn(struct x *p) { return p->low_fn + p[0].shared; }',
        'int other(void) { int shared[2]; shared[0] = 1; return shared[0]; }',
        '#define CALL low_fn()',
      ].join('\n'),
      'top.c':
        'static int shared(void) { return 0; }\nvoid reg(void (*f)(void));\nvoid top(void) { reg(mid_fn); shared(); }\n',
    };
    expect(cCallGraphOf(files, 'a').map((e) => `${e.from} → ${e.to} (${e.at})`)).toEqual(['top.c → mid.c (a/top.c:3)']);
  });

  test('finds a circle round three files, and names each call', () => {
    const files = {
      'a.c': 'void a(void) { b(); }\n',
      'b.c': 'void b(void) {\n  c();\n}\n',
      'c.c': 'void c(void) { a(); }\nvoid d(void) {}\n',
      'e.c': 'void e(void) { d(); a(); }\n',
    };
    const g = cCallGraphOf(files, 'g');
    expect(findCycles(g).map(describeCycle)).toEqual(['a.c → b.c (g/a.c:1) → c.c (g/b.c:2) → a.c (g/c.c:1)']);
    expect(tangles(g)).toEqual([['a.c', 'b.c', 'c.c']]);
  });

  test('finds none in files that call one way', () => {
    const files = {
      'a.c': 'void a(void) { b(); c(); }\n',
      'b.c': 'void b(void) { c(); }\n',
      'c.c': 'void c(void) {}\n',
    };
    expect(findCycles(cCallGraphOf(files, 'g'))).toEqual([]);
    expect(tangles(cCallGraphOf(files, 'g'))).toEqual([]);
  });
});
