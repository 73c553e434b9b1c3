/**
 * The decoding layer covers every route: walking the express router, each route is in the
 * schema table (src/api/v1.41/schema/routes.ts) and its handler is registered through
 * `typed`, and no module of the API reads req.query or req.body raw.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createApiApp } from '../../../src/api/v1.41/server';
import { ROUTES, TYPED } from '../../../src/api/v1.41/schema/routes';

interface Layer {
  route?: { path: string; methods: Record<string, boolean>; stack: Array<{ handle: unknown; method?: string }> };
  handle?: { stack?: Layer[] };
}

function routesOf(stack: Layer[]): Array<{ key: string; handlers: unknown[] }> {
  const out: Array<{ key: string; handlers: unknown[] }> = [];
  for (const l of stack) {
    if (l.route) {
      for (const m of Object.keys(l.route.methods)) {
        const handlers = l.route.stack.filter((s) => !s.method || s.method === m).map((s) => s.handle);
        out.push({ key: `${m.toUpperCase()} ${l.route.path}`, handlers });
      }
    } else if (l.handle?.stack) {
      out.push(...routesOf(l.handle.stack));
    }
  }
  return out;
}

test('every served route has a schema and a typed handler, and every schema a route', () => {
  const app = createApiApp({
    system: { version: '0.0.0-test', dataRoot: '/nonexistent', accel: 'tcg' },
    containers: {} as never,
    images: {} as never,
  });
  const stack = (app as unknown as { router: { stack: Layer[] } }).router.stack;
  const served = routesOf(stack);
  expect(served.length).toBeGreaterThan(30);
  for (const r of served) {
    expect({ route: r.key, inTable: r.key in ROUTES }).toEqual({ route: r.key, inTable: true });
    const last = r.handlers[r.handlers.length - 1] as Record<symbol, unknown>;
    expect({ route: r.key, typed: last[TYPED] }).toEqual({ route: r.key, typed: r.key });
  }
  const keys = new Set(served.map((r) => r.key));
  for (const k of Object.keys(ROUTES)) expect({ k, served: keys.has(k) }).toEqual({ k, served: true });
});

test('no API module reads req.query or req.body raw', () => {
  const dir = path.join(__dirname, '../../../src/api/v1.41');
  const files = fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.ts'))
    .map((f) => path.join(dir, f));
  for (const f of files) {
    const text = fs.readFileSync(f, 'utf8');
    expect({ f, raw: /\breq\.(query|body)\b/.test(text) }).toEqual({ f, raw: false });
  }
});
