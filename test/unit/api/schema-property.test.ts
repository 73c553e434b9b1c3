/**
 * Property-based checks of the decoding layer (fast-check), over HTTP against the API on the
 * in-memory fakes: a wrong-typed or out-of-range value in any field of the create, update,
 * exec create and exec start bodies, and a bad value of any integer or filters query
 * parameter of any route, is a 4xx whose message names the field, and changes nothing: every
 * stored record still has the types a Go client (docker inspect) decodes.
 * Bool and string query parameters have no wrong values under dockerd's rules (any string is
 * a bool: httputils.BoolValue), so only ints and filters are generated.
 */
import * as http from 'node:http';
import fc from 'fast-check';
import { Kind, type TSchema } from '@sinclair/typebox';
import { BODY_SCHEMAS } from '../../../src/api/v1.41/docker/docker-schema';
import { ROUTES } from '../../../src/api/v1.41/schema/routes';
import { repairFrontend } from '../../../src/api/v1.41/docker/repair';
import type { Harness } from '../pod/fakes';
import { startFakeApi, type FakeApi } from './fake-api';

let fake: FakeApi;
let h: Harness;
let sock: string;

beforeAll(async () => {
  fake = await startFakeApi();
  ({ h, sock } = fake);
});

afterAll(async () => {
  await fake.close();
});

function api(method: string, p: string, body?: unknown): Promise<{ status: number; message: string }> {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const req = http.request(
      {
        socketPath: sock,
        method,
        path: p,
        headers: data ? { 'Content-Type': 'application/json', 'Content-Length': data.length } : {},
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString();
          let message = '';
          try {
            message = (JSON.parse(text) as { message?: string }).message ?? '';
          } catch {
            message = text;
          }
          resolve({ status: res.statusCode ?? 0, message });
        });
      },
    );
    req.on('error', reject);
    req.end(data);
  });
}

const props = (s: TSchema) => (s as unknown as { properties: Record<string, TSchema> }).properties;
const anyObject = fc.dictionary(fc.string({ maxLength: 5 }), fc.string({ maxLength: 5 }), { minKeys: 1, maxKeys: 3 });
const notInt = fc.oneof(
  fc.double({ noInteger: true, noNaN: true, noDefaultInfinity: true }),
  fc.constantFrom(2 ** 65, -(2 ** 65), 1e30, -1e300),
);

/** Values that are not of schema `s` (wrong JSON type, or out of its Go range). */
function wrong(s: TSchema): fc.Arbitrary<unknown> {
  const goType = (s as { goType?: string }).goType;
  switch (s[Kind]) {
    case 'String':
      return fc.oneof(fc.integer(), fc.boolean(), fc.array(fc.string(), { maxLength: 2 }), anyObject);
    case 'Boolean':
      return fc.oneof(fc.string(), fc.integer(), fc.array(fc.boolean(), { maxLength: 2 }), anyObject);
    case 'Integer': {
      const range =
        goType === 'uint16'
          ? fc.oneof(fc.integer({ min: 65536, max: 2 ** 40 }), fc.integer({ min: -1000, max: -1 }))
          : goType?.startsWith('uint')
            ? fc.integer({ min: -(2 ** 40), max: -1 })
            : notInt;
      return fc.oneof(fc.string(), fc.boolean(), fc.array(fc.integer(), { maxLength: 2 }), anyObject, notInt, range);
    }
    case 'Array': {
      const items = (s as unknown as { items: TSchema }).items;
      const bad = [fc.integer(), fc.boolean(), anyObject];
      if (goType !== 'strslice' && items[Kind] !== 'Unknown') bad.push(fc.string() as never);
      if (items[Kind] !== 'Unknown') bad.push(wrong(items).map((x) => [x]) as never);
      return fc.oneof(...(bad as fc.Arbitrary<unknown>[]));
    }
    case 'Record': {
      const vs = Object.values((s as unknown as { patternProperties: Record<string, TSchema> }).patternProperties)[0];
      const bad: fc.Arbitrary<unknown>[] = [
        fc.string(),
        fc.integer(),
        fc.boolean(),
        fc.array(fc.string(), { maxLength: 2 }),
      ];
      if (vs[Kind] !== 'Unknown') bad.push(wrong(vs).map((x) => ({ k: x })));
      return fc.oneof(...bad);
    }
    case 'Object':
      return fc.oneof(fc.string(), fc.integer(), fc.boolean(), fc.array(fc.integer(), { maxLength: 2 }));
    default:
      throw new Error(`no generator for ${String(s[Kind])}`);
  }
}

/** Every field of a body schema, as [path, schema] (nested structs walked). */
function fields(s: TSchema, at: string[] = []): Array<[string[], TSchema]> {
  const out: Array<[string[], TSchema]> = [];
  for (const [name, f] of Object.entries(props(s))) {
    out.push([[...at, name], f]);
    if (f[Kind] === 'Object') out.push(...fields(f, [...at, name]));
  }
  return out;
}

function nest(p: string[], v: unknown, base: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  let cur = out;
  for (let i = 0; i < p.length - 1; i++) {
    cur[p[i]] = { ...((cur[p[i]] as object) ?? {}) };
    cur = cur[p[i]] as Record<string, unknown>;
  }
  cur[p[p.length - 1]] = v;
  return out;
}

let id = '';
let execId = '';

test('setup: a running container and an exec', async () => {
  const r = await h.create({ Image: 'busybox', Cmd: ['sleep', '1000'] }, 'prop');
  id = r.id;
  expect((await api('POST', `/containers/${id}/start`)).status).toBe(204);
  const x = await new Promise<string>((resolve) => {
    const data = Buffer.from(JSON.stringify({ Cmd: ['true'] }));
    const req = http.request(
      {
        socketPath: sock,
        method: 'POST',
        path: `/containers/${id}/exec`,
        headers: { 'Content-Type': 'application/json', 'Content-Length': data.length },
      },
      (res) => {
        let t = '';
        res.on('data', (c) => (t += c));
        res.on('end', () => resolve((JSON.parse(t) as { Id: string }).Id));
      },
    );
    req.end(data);
  });
  execId = x;
});

const BODY_ROUTES: Array<[string, string, () => string, Record<string, unknown>]> = [
  ['create', 'POST', () => '/containers/create', { Image: 'busybox', Cmd: ['true'] }],
  ['update', 'POST', () => `/containers/${id}/update`, {}],
  ['execCreate', 'POST', () => `/containers/${id}/exec`, { Cmd: ['true'] }],
  ['execStart', 'POST', () => `/exec/${execId}/start`, { Detach: true }],
];

describe.each(BODY_ROUTES)('%s body: every field, wrong type or range -> 4xx naming it', (name, method, url, base) => {
  const schema = BODY_SCHEMAS[name];
  test.each(fields(schema).map(([p, s]) => [p.join('.'), p, s] as const))('%s', async (_label, p, s) => {
    await fc.assert(
      fc.asyncProperty(wrong(s), async (v) => {
        const before = h.pods.list().length;
        const r = await api(method, url(), nest(p as string[], v, base));
        expect(r.status).toBeGreaterThanOrEqual(400);
        expect(r.status).toBeLessThan(500);
        expect(r.message).toContain(`.${p[p.length - 1]}`);
        expect(r.message).toMatch(/^json: cannot unmarshal /);
        expect(h.pods.list().length).toBe(before);
      }),
      { numRuns: 8 },
    );
  });
});

/** Routes with their path parameters filled. */
function urlOf(key: string): [string, string] {
  const [method, p] = key.split(' ');
  return [
    method,
    p
      .replace(':id', key.startsWith('POST /exec') || key.startsWith('GET /exec') ? execId : id)
      .replace('*name', 'busybox'),
  ];
}

const QUERY_CASES = Object.entries(ROUTES).flatMap(([key, spec]) =>
  Object.entries(props(spec.query))
    .filter(([, s]) => ['int', 'filters'].includes((s as { q?: string }).q ?? ''))
    .map(([param, s]) => [key, param, (s as unknown as { q: string }).q] as const),
);

test('the generated cases cover every int and filters parameter', () => {
  expect(QUERY_CASES.map(([k, p]) => `${k}?${p}`)).toEqual(
    expect.arrayContaining([
      'GET /containers/json?limit',
      'POST /containers/:id/stop?t',
      'GET /events?filters',
      'GET /images/json?filters',
    ]),
  );
});

describe('query parameters: a bad int or filters value -> 400, whatever the route', () => {
  const badInt = fc.oneof(
    fc.string({ minLength: 1 }).filter((s) => !/^[+-]?\d+$/.test(s)),
    fc.constantFrom('1e3', '1.5', '99999999999999999999', '-99999999999999999999', '0x10'),
  );
  const badFilters = fc.oneof(
    fc.string({ minLength: 1 }).filter((s) => {
      try {
        const v = JSON.parse(s);
        return v !== null && (typeof v !== 'object' || Array.isArray(v));
      } catch {
        return true;
      }
    }),
    fc.constantFrom('{"nosuchfilter":["x"]}', '{"label":"x"}', '{"label":3}', '[1]', '"x"'),
  );
  test.each(QUERY_CASES.map((c) => [`${c[0]}?${c[1]}`, ...c] as const))('%s', async (_label, key, param, kind) => {
    const [method, p] = urlOf(key);
    await fc.assert(
      fc.asyncProperty(kind === 'int' ? badInt : badFilters, async (v) => {
        const r = await api(method, `${p}?${param}=${encodeURIComponent(v)}`);
        expect({ v, status: r.status }).toEqual({ v, status: 400 });
      }),
      { numRuns: 8 },
    );
  });
});

test('afterwards every record has the types a Go client decodes, and a lower-case body creates', async () => {
  const r = await api('POST', '/containers/create', {
    image: 'busybox',
    cmd: ['true'],
    hostconfig: { memory: 64 * 1024 * 1024 },
  });
  expect(r.status).toBe(201);
  for (const rec of h.pods.list())
    expect({ id: rec.id, fixed: repairFrontend(structuredClone(rec.frontend)) }).toEqual({ id: rec.id, fixed: [] });
  const made = h.pods.list().find((x) => x.id !== id) as
    | { frontend: { hostConfig: { Memory: number }; config: { Cmd: string[] } } }
    | undefined;
  expect(made?.frontend.hostConfig.Memory).toBe(64 * 1024 * 1024);
  expect(made?.frontend.config.Cmd).toEqual(['true']);
});
