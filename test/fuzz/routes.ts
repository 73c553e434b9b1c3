/**
 * The routes the daemon serves, read from the express router of src/api/v1.41 itself, so a
 * route added later is fuzzed without anyone updating a list.
 */
import type { ApiServices } from '../../src/api/v1.41/services';
import { createApiApp } from '../../src/api/v1.41/server';

/** One served route: its method and express path template. */
export interface ServedRoute {
  method: string;
  path: string;
}

interface Layer {
  route?: { path: string; methods: Record<string, boolean> };
  handle?: { stack?: Layer[] };
}

function walk(stack: Layer[], out: ServedRoute[]): void {
  for (const layer of stack) {
    if (layer.route) {
      for (const [m, on] of Object.entries(layer.route.methods)) {
        if (on && m !== '_all') out.push({ method: m.toUpperCase(), path: layer.route.path });
      }
    } else if (layer.handle?.stack) {
      walk(layer.handle.stack, out);
    }
  }
}

/** Every (method, path) the API app routes. Handlers are not called, so no services are needed. */
export function servedRoutes(): ServedRoute[] {
  const app = createApiApp({ system: { version: 'fuzz' } } as unknown as ApiServices) as unknown as {
    router: { stack: Layer[] };
  };
  const out: ServedRoute[] = [];
  walk(app.router.stack, out);
  return out;
}
