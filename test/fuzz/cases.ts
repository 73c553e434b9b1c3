/**
 * The hostile-request generator: from a seed, a repeatable list of raw HTTP requests across
 * every served route (test/fuzz/routes.ts), each tagged with the kind of hostility it carries.
 * Requests are raw bytes, so that what a well-behaved client library would refuse to send
 * (broken chunked encoding, bad request lines, huge headers) is sent too.
 */
import { Rng } from '../helpers/rng';
import type { ServedRoute } from './routes';

/** How a case is delivered and judged. */
export type Delivery =
  /** Send everything, expect a status line (or a close) within the bound. */
  | 'answer'
  /** Send part of the body, then close the connection: only the daemon's survival is judged. */
  | 'abort';

/** One generated request. */
export interface FuzzCase {
  /** Index in the run (for reproducing one case). */
  n: number;
  /** The class of hostile input (used to match dockerd's behaviour). */
  kind: string;
  /** The route template it targets ('-' for none). */
  route: string;
  method: string;
  /** Request line target (path and query, already encoded or deliberately not). */
  target: string;
  /** Header block without the request line and without the final empty line. */
  headers: string[];
  /** The body, sent after the headers (raw: the case is responsible for framing). */
  body: Buffer;
  /** Extra zero-ish filler bytes appended to the body, streamed (the 20 MB bodies). */
  bulk: number;
  delivery: Delivery;
  /** True for requests that may delete what other cases use (run last). */
  destructive: boolean;
}

/** Names of things that exist in the daemon under test (to reach deeper validation). */
export interface Known {
  containers: string[];
  images: string[];
  /** Hostile tars (./tars.ts), sent to every route that reads one; none when absent. */
  tars?: Array<{ what: string; body: Buffer; only?: string[] }>;
}

/** The routes that read a tar body, with the query that makes them read it. */
const TAR_ROUTES: Array<{ route: string; method: string; target: (container: string) => string }> = [
  {
    route: '/containers/:id/archive',
    method: 'PUT',
    target: (c) => `/v1.41/containers/${encodeURIComponent(c)}/archive?path=%2Ftmp`,
  },
  { route: '/images/create', method: 'POST', target: () => '/v1.41/images/create?fromSrc=-&repo=fuzz-import' },
  { route: '/images/load', method: 'POST', target: () => '/v1.41/images/load?quiet=1' },
  { route: '/build', method: 'POST', target: () => '/v1.41/build?t=fuzz-build' },
];

const SCALARS: unknown[] = [
  5,
  -1,
  0,
  'str',
  '',
  [],
  {},
  null,
  true,
  false,
  1e308,
  -1e308,
  2 ** 64,
  [1, 'x'],
  { $: 1 },
  0.5,
  '🙂',
  '\u0000',
];

const ABSURD: unknown[] = [
  2 ** 70,
  -9999999999999,
  1e300,
  -1e300,
  '99999999999999999999999',
  'x'.repeat(100000),
  -0.000001,
  Array.from({ length: 5000 }, (_, i) => `E${i}=v`),
  Object.fromEntries(Array.from({ length: 2000 }, (_, i) => [`k${i}`, 'v'])),
  'SIGFOO',
  '../../../../etc/passwd',
  '\u0000\u0001\u0002',
  '%00',
  'a'.repeat(70) + ':' + 'b'.repeat(200),
];

const BAD_NAMES = [
  'fuzznope',
  'fuzz nope',
  '../../etc/passwd',
  '..',
  '.',
  '%2e%2e',
  '%00',
  'x'.repeat(5000),
  'UPPER',
  'a:b:c:d',
  'sha256:zz',
  'x@sha256:123',
  '@',
  ':',
  '%ff%fe',
  '🙂',
  'fuzz%0d%0aX-Injected:%201',
  '-rm',
  'a/b/c/d/e/f',
  '0',
  '%20',
  '%3Fq=1',
  'fuzz;ls',
  'sha256:' + '0'.repeat(64),
  '0'.repeat(64),
  'f'.repeat(63),
];

const BAD_QUERY_VALUES = [
  '',
  '-1',
  '0',
  '1',
  'true',
  'no',
  'abc',
  '99999999999999999999',
  '1e309',
  '-99999999999',
  '[',
  '%7B%22x%22%3A',
  '%ff',
  '%00',
  'null',
  '%5B%5D',
  '1.5',
  'NaN',
  'Infinity',
  'x'.repeat(3000),
  '%zz',
  '+1',
  '0x10',
  ' 1',
  'SIGKILL',
  'SIGFOO',
  '9999',
];

const BAD_FILTERS = [
  '{',
  '[]',
  '1',
  '"s"',
  'null',
  '{}',
  '{"label":"x"}',
  '{"label":[1,2]}',
  '{"label":{"x":"y"}}',
  '{"nope":["x"]}',
  '{"status":["bogus"]}',
  '{"until":["abc"]}',
  '{"until":["-99999999999999999"]}',
  '{"since":["fuzznope"]}',
  '{"before":["fuzznope"]}',
  '{"dangling":["maybe"]}',
  '{"exited":["abc"]}',
  '{"id":[null]}',
  '{"name":[{}]}',
  '{"reference":["%%%"]}',
  '{"type":["x"],"event":["y"]}',
  '{"label":["' + 'a'.repeat(5000) + '"]}',
  '{"label":{"x":1}}',
];

/** Query parameter names dockerd reads somewhere (the fuzzer sends them anywhere). */
const QUERY_NAMES = [
  'all',
  'limit',
  'size',
  'filters',
  'force',
  'v',
  't',
  'signal',
  'name',
  'tail',
  'since',
  'until',
  'timestamps',
  'follow',
  'stdout',
  'stderr',
  'stdin',
  'stream',
  'logs',
  'h',
  'w',
  'condition',
  'fromImage',
  'fromSrc',
  'tag',
  'repo',
  'noprune',
  'digests',
  'ps_args',
  'one-shot',
  'detachKeys',
  'link',
  'platform',
  'message',
  'changes',
  'type',
];

const BASE_BODIES: Record<string, () => Record<string, unknown>> = {
  '/containers/create': () => ({
    Image: 'fuzznope-image',
    Cmd: ['true'],
    Env: ['A=b'],
    Labels: { a: 'b' },
    Tty: false,
    OpenStdin: false,
    ExposedPorts: { '80/tcp': {} },
    StopSignal: 'SIGTERM',
    StopTimeout: 5,
    User: 'root',
    WorkingDir: '/',
    Healthcheck: { Test: ['CMD', 'true'], Interval: 1000000000 },
    HostConfig: {
      Memory: 0,
      NanoCpus: 0,
      CpuShares: 0,
      Binds: [],
      PortBindings: {},
      RestartPolicy: { Name: 'no' },
      LogConfig: { Type: 'json-file', Config: {} },
      Mounts: [],
      ShmSize: 0,
      AutoRemove: false,
      GroupAdd: [],
      CapAdd: [],
      Dns: [],
      ExtraHosts: [],
      Ulimits: [],
      Devices: [],
      NetworkMode: 'default',
    },
    NetworkingConfig: { EndpointsConfig: {} },
  }),
  '/containers/:id/exec': () => ({
    Cmd: ['true'],
    AttachStdout: true,
    AttachStderr: true,
    Tty: false,
    Env: [],
    DetachKeys: 'ctrl-p,ctrl-q',
    User: '',
    WorkingDir: '',
    Privileged: false,
  }),
  '/exec/:id/start': () => ({ Detach: true, Tty: false }),
  '/containers/:id/update': () => ({
    Memory: 100000000,
    NanoCpus: 1000000000,
    CpuShares: 512,
    RestartPolicy: { Name: 'no' },
  }),
  '/auth': () => ({ username: 'fuzz', password: 'fuzz', serveraddress: '127.0.0.1:1' }),
  '/containers/:id/wait': () => ({}),
  '/containers/:id/attach': () => ({}),
};

/** Query values that keep a request from streaming forever when it does succeed. */
const BOUNDED: Record<string, string> = {
  '/events': 'until=1',
  '/containers/:id/logs': 'stdout=1&follow=0',
  '/containers/:id/stats': 'stream=0',
};

const MALFORMED_JSON = [
  '{',
  '{"Image":',
  '[1,2',
  'nul',
  '{"a" 1}',
  '\u0000\u0001',
  '{}}',
  "{'a':1}",
  'NaN',
  'true false',
  '{"a":1,}',
  '"\\x"',
  '{"a":"\ud800"}',
  '['.repeat(100000),
  '{"a":'.repeat(20000),
  '\ufeff{}',
  '0'.repeat(1000),
  '-',
  '{"Cmd":[1,2,3',
  '1e99999',
];

function enc(s: string): string {
  return encodeURIComponent(s);
}

/** Fill a route template's parameters. */
function fillPath(rng: Rng, route: string, known: Known, hostile: boolean): string {
  // Fuzz cases never boot a VM: routes that would start a real container get made-up names.
  const boots = /^\/containers\/:id\/(start|restart|unpause|attach|attach\/ws|wait|exec)$/.test(route);
  return route.replace(/:id|\*name/g, (p) => {
    const real = p === ':id' ? (route.startsWith('/exec') || boots ? [] : known.containers) : known.images;
    if (!hostile && real.length && rng.chance(0.6)) return real.map(enc)[rng.int(real.length)];
    if (!hostile) return `fuzznope${rng.int(1e6)}`;
    const n = rng.pick(BAD_NAMES);
    // Some names go raw (already %-escapes or deliberately broken), some encoded.
    return /%/.test(n) && rng.chance(0.5) ? n : n.split('/').map(enc).join('/');
  });
}

function randomQuery(rng: Rng, route: string): string {
  const parts: string[] = [];
  const n = 1 + rng.int(4);
  for (let i = 0; i < n; i++) {
    const name = rng.pick(QUERY_NAMES);
    const v = name === 'filters' ? rng.pick(BAD_FILTERS) : rng.pick(BAD_QUERY_VALUES);
    parts.push(`${name}=${/%/.test(v) ? v : enc(v)}`);
  }
  if (BOUNDED[route]) parts.push(BOUNDED[route]);
  return parts.join('&');
}

function setDeep(obj: Record<string, unknown>, rng: Rng, value: unknown): void {
  let cur: Record<string, unknown> = obj;
  for (;;) {
    const keys = Object.keys(cur);
    if (!keys.length) {
      cur[rng.pick(['Image', 'Cmd', 'Memory', 'Env', 'x'])] = value;
      return;
    }
    const k = rng.pick(keys);
    const v = cur[k];
    if (v && typeof v === 'object' && !Array.isArray(v) && rng.chance(0.5)) {
      cur = v as Record<string, unknown>;
      continue;
    }
    cur[k] = value;
    return;
  }
}

function jsonHeaders(body: Buffer, contentType = 'application/json'): string[] {
  return [`Content-Type: ${contentType}`, `Content-Length: ${body.length}`];
}

/** Build `count` cases from `seed` over `routes`. Deterministic for a given seed and input. */
export function generateCases(seed: number, count: number, routes: ServedRoute[], known: Known): FuzzCase[] {
  const rng = new Rng(seed);
  const cases: FuzzCase[] = [];
  const add = (
    c: Omit<FuzzCase, 'n' | 'bulk' | 'delivery' | 'destructive' | 'body' | 'headers'> & Partial<FuzzCase>,
  ) => {
    const destructive = /prune/.test(c.route) || c.method === 'DELETE' || /\/(rename|tag)$/.test(c.route);
    cases.push({ n: 0, bulk: 0, delivery: 'answer', destructive, body: Buffer.alloc(0), headers: [], ...c });
  };
  const bodyKinds = ['malformed-json', 'truncated-json', 'wrongtype-json', 'absurd-json', 'wrong-content-type'];
  const requestKinds = ['bad-name', 'bad-query', 'bad-filter', ...bodyKinds];

  // Transport-level cases first: a fixed handful, spread over routes.
  const transport = Math.max(12, Math.floor(count * 0.08));
  for (let i = 0; i < transport; i++) {
    const r = routes[rng.int(routes.length)];
    const path = fillPath(rng, r.path, known, false);
    const kind = ['big-body', 'big-header', 'bad-chunked', 'mid-body-close', 'bad-chunked', 'mid-body-close'][i % 6];
    if (kind === 'big-body') {
      // 20 MB or more, declared, of JSON-looking bytes.
      const bulk = 20 * 1024 * 1024 + rng.int(4 * 1024 * 1024);
      add({
        kind,
        route: r.path,
        method: r.method === 'GET' ? 'POST' : r.method,
        target: path,
        headers: ['Content-Type: application/json', `Content-Length: ${bulk + 2}`],
        body: Buffer.from('["'),
        bulk,
      });
    } else if (kind === 'big-header') {
      const size = 64 * 1024 + rng.int(64 * 1024);
      add({ kind, route: r.path, method: r.method, target: path, headers: [`X-Registry-Auth: ${'A'.repeat(size)}`] });
    } else if (kind === 'bad-chunked') {
      const bad = rng.pick([
        'zz\r\n{}\r\n0\r\n\r\n',
        'ffffffffffffffff\r\n{}',
        '5\r\n{}\r\n0\r\n\r\n',
        '-1\r\n\r\n',
        '2\r\n{}XX0\r\n\r\n',
        '3;ext=' + 'x'.repeat(20000) + '\r\n{}\r\n0\r\n\r\n',
      ]);
      add({
        kind,
        route: r.path,
        method: r.method,
        target: path,
        headers: ['Content-Type: application/json', 'Transfer-Encoding: chunked'],
        body: Buffer.from(bad),
      });
    } else {
      add({
        kind,
        route: r.path,
        method: r.method,
        target: path,
        headers: ['Content-Type: application/json', 'Content-Length: 100000'],
        body: Buffer.from('{"Image":"fuzz'),
        delivery: 'abort',
      });
    }
  }
  // Unknown routes, methods and versions.
  const misc = Math.max(20, Math.floor(count * 0.1));
  for (let i = 0; i < misc; i++) {
    const r = routes[rng.int(routes.length)];
    const path = fillPath(rng, r.path, known, false);
    const which = i % 3;
    if (which === 0) {
      const m = rng.pick([
        'PATCH',
        'PUT',
        'OPTIONS',
        'TRACE',
        'PROPFIND',
        'FOO',
        'get',
        'DELETE',
        'POST',
        'GET',
        'G\u0000T',
        'CONNECT',
      ]);
      add({ kind: 'unknown-method', route: r.path, method: m, target: path });
    } else if (which === 1) {
      const v = rng.pick([
        '/v0.1',
        '/v9.99',
        '/vabc',
        '/v1',
        '/v1.41.1',
        '/v1.12',
        '/v1.11',
        '/v01.041',
        '/v-1.0',
        '/v99999999999999999999.1',
        '/v1.4x',
        '/v.',
      ]);
      add({
        kind: 'bad-version',
        route: r.path,
        method: r.method,
        target: v + path,
        headers: r.method === 'POST' ? ['Content-Length: 0'] : [],
      });
    } else {
      const t = rng.pick([
        '/nope',
        '/containers',
        '/containers/',
        '/images',
        '/v1.41',
        '//_ping',
        '/_ping/x',
        '/containers//json',
        '*',
        'http://x/_ping',
        '/%',
        '/exec',
        '/..%2f..%2f',
        '/' + 'a/'.repeat(5000),
      ]);
      add({ kind: 'unknown-route', route: '-', method: rng.pick(['GET', 'POST', 'DELETE']), target: t });
    }
  }
  // Hostile tars (names too long for Linux, deep paths, cut short, garbage) to every route
  // that reads one: a fixed set, each once.
  for (const t of known.tars ?? []) {
    for (const r of TAR_ROUTES) {
      if (r.route === '/containers/:id/archive' && !known.containers.length) continue;
      if (t.only && !t.only.includes(r.route)) continue;
      add({
        kind: `hostile-tar:${t.what}`,
        route: r.route,
        method: r.method,
        target: r.target(known.containers[0] ?? ''),
        headers: ['Content-Type: application/x-tar', `Content-Length: ${t.body.length}`],
        body: t.body,
      });
    }
  }
  // The bulk: every route in turn, with a request-level hostile kind.
  let i = 0;
  while (cases.length < count) {
    const r = routes[i++ % routes.length];
    const kind = rng.pick(requestKinds);
    const hasBody = r.method === 'POST';
    const base = BASE_BODIES[r.path]?.() ?? {};
    const path = fillPath(rng, r.path, known, kind === 'bad-name');
    let query = kind === 'bad-query' || kind === 'bad-filter' ? randomQuery(rng, r.path) : (BOUNDED[r.path] ?? '');
    if (kind === 'bad-filter') query = `filters=${enc(rng.pick(BAD_FILTERS))}&${BOUNDED[r.path] ?? ''}`;
    if (r.path === '/images/create' && !/fromImage/.test(query))
      query += `&fromImage=${enc(rng.pick(['127.0.0.1:1/fuzz', 'fuzz nope', 'UPPER/x', '', 'a'.repeat(300), '127.0.0.1:1/x@sha256:zz']))}`;
    const target = path + (query ? `?${query}` : '');
    let body = Buffer.alloc(0);
    let contentType = 'application/json';
    if (bodyKinds.includes(kind) && hasBody) {
      if (kind === 'malformed-json')
        body = Buffer.from(
          rng.chance(0.2) ? rng.bytes(1 + rng.int(200)).toString('latin1') : rng.pick(MALFORMED_JSON),
          'latin1',
        );
      else if (kind === 'truncated-json') {
        const s = JSON.stringify(base);
        body = Buffer.from(s.slice(0, Math.max(1, rng.int(s.length))));
      } else if (kind === 'wrongtype-json') {
        for (let k = 1 + rng.int(3); k > 0; k--) setDeep(base, rng, structuredClone(rng.pick(SCALARS)));
        body = Buffer.from(rng.chance(0.1) ? JSON.stringify(rng.pick(SCALARS)) : JSON.stringify(base));
      } else if (kind === 'absurd-json') {
        for (let k = 1 + rng.int(3); k > 0; k--) setDeep(base, rng, structuredClone(rng.pick(ABSURD)));
        body = Buffer.from(JSON.stringify(base));
      } else {
        contentType = rng.pick([
          'text/plain',
          'application/x-www-form-urlencoded',
          'multipart/form-data; boundary=x',
          'application/json; charset=utf-16',
          '',
        ]);
        body = Buffer.from(JSON.stringify(base));
      }
    } else if (hasBody && Object.keys(base).length) {
      body = Buffer.from(JSON.stringify(base));
    }
    add({
      kind,
      route: r.path,
      method: r.method,
      target,
      headers: body.length || hasBody ? jsonHeaders(body, contentType) : [],
      body,
    });
  }
  // Destructive ones last, so earlier cases still find the real objects.
  const ordered = [...cases.filter((c) => !c.destructive), ...cases.filter((c) => c.destructive)];
  ordered.forEach((c, k) => (c.n = k));
  return ordered.slice(0, count);
}

/** The raw bytes of a case's request line and headers. */
export function requestHead(c: FuzzCase): Buffer {
  const lines = [
    `${c.method} ${c.target} HTTP/1.1`,
    'Host: docker',
    'User-Agent: podvisor-fuzz',
    'Connection: close',
    ...c.headers,
  ];
  return Buffer.from(lines.join('\r\n') + '\r\n\r\n', 'latin1');
}
