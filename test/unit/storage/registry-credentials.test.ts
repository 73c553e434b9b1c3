/**
 * Where a pull or push sends the user's registry credentials. As dockerd's
 * client does, the Authorization header goes only to the registry's own origin: not to a host
 * a redirect leads to (nor does the client answer that host's challenge with the user's
 * password), not down from https to http, not to an upload location on another host; and the
 * password goes to a token realm over plain http only when the registry itself is an insecure
 * one reached over plain http.
 *
 * Every server here listens on 127.0.0.1 on a free port and records the Authorization header
 * of each request it gets; 127.0.0.1 is a loopback registry, which dockerd (and podvisor)
 * treat as insecure: https without certificate checks first, then plain http.
 */
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { RegistryClient } from '../../../src/storage/registry/client';
import { RegistryHosts } from '../../../src/storage/registry/hosts';
import { basicHeader } from '../../../src/storage/registry/auth';
import { makeTlsFiles, type TlsFiles } from '../../helpers/tls-certs';

const USER = { username: 'alice', password: 's3cret-password' };
const BASIC = basicHeader(USER.username, USER.password);
const MANIFEST = JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json' });

/** One request as a server saw it. */
interface Seen {
  server: string;
  scheme: string;
  url: string;
  authorization?: string;
}

type Handler = (req: http.IncomingMessage, res: http.ServerResponse, scheme: string) => void;

let dir: string;
let tls: TlsFiles;
let seen: Seen[];
const closers: Array<() => void> = [];

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pv-registry-creds-'));
  tls = makeTlsFiles(dir);
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
beforeEach(() => {
  seen = [];
});
afterEach(() => {
  for (const c of closers.splice(0)) c();
});

/**
 * A server named `name` on a free port of 127.0.0.1 that answers both https (the server
 * certificate of tls-certs) and plain http on that one port (told apart by the first byte: a
 * TLS handshake starts with 0x16), recording every request. Returns its port.
 */
async function serve(name: string, handler: Handler): Promise<number> {
  const record =
    (scheme: string) =>
    (req: http.IncomingMessage, res: http.ServerResponse): void => {
      seen.push({ server: name, scheme, url: req.url ?? '', authorization: req.headers.authorization });
      req.resume();
      handler(req, res, scheme);
    };
  const plain = http.createServer(record('http'));
  const secure = https.createServer(
    { cert: fs.readFileSync(tls.serverCert), key: fs.readFileSync(tls.serverKey) },
    record('https'),
  );
  const sockets = new Set<net.Socket>();
  const front = net.createServer((sock) => {
    sockets.add(sock);
    sock.on('close', () => sockets.delete(sock));
    sock.once('data', (first: Buffer) => {
      sock.pause();
      sock.unshift(first);
      (first[0] === 0x16 ? secure : plain).emit('connection', sock);
      process.nextTick(() => sock.resume());
    });
    sock.on('error', () => undefined);
  });
  await new Promise<void>((r) => front.listen(0, '127.0.0.1', r));
  closers.push(() => {
    front.close();
    for (const s of sockets) s.destroy();
  });
  return (front.address() as net.AddressInfo).port;
}

/** A registry that wants Basic auth for everything, then hands what it serves to `then`. */
function basicRegistry(then: Handler): Handler {
  return (req, res, scheme) => {
    if (req.headers.authorization !== BASIC) {
      res.writeHead(401, { 'WWW-Authenticate': 'Basic realm="registry"' }).end();
      return;
    }
    then(req, res, scheme);
  };
}

/** A registry whose Bearer challenge names `realm`; it accepts the token `token`. */
function bearerRegistry(realm: () => string, token: string): Handler {
  return (req, res) => {
    if (req.headers.authorization !== `Bearer ${token}`) {
      res.writeHead(401, { 'WWW-Authenticate': `Bearer realm="${realm()}",service="registry"` }).end();
      return;
    }
    res.writeHead(200, { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json' }).end(MANIFEST);
  };
}

/** A token server handing out `token` to anyone (with or without credentials). */
function tokenServer(token: string): Handler {
  return (_req, res) => {
    res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify({ token }));
  };
}

const client = (port: number) => new RegistryClient(`127.0.0.1:${port}`, 'x/app', new RegistryHosts(), USER);

/** The requests a server got that carried the user's password or a token. */
const credentialed = (server: string) => seen.filter((s) => s.server === server && s.authorization !== undefined);

test('a pull redirected to another host sends it no credentials, and its challenge gets no password', async () => {
  // The other host answers with a Bearer challenge whose realm is its own: a client that
  // answered it would hand it the user's password.
  const elsewhere: number = await serve('elsewhere', (req, res) => {
    if (req.url?.startsWith('/token')) {
      res.writeHead(200, { 'Content-Type': 'application/json' }).end('{"token":"stolen"}');
      return;
    }
    res.writeHead(401, { 'WWW-Authenticate': `Bearer realm="http://127.0.0.1:${elsewhere}/token",service="x"` }).end();
  });
  const registry = await serve(
    'registry',
    basicRegistry((req, res) => {
      if (req.url?.includes('/manifests/'))
        res.writeHead(200, { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json' }).end(MANIFEST);
      else res.writeHead(307, { Location: `http://127.0.0.1:${elsewhere}/storage${req.url}` }).end();
    }),
  );

  // The manifest, then a layer whose blob the registry sends to the other host.
  const pull = client(registry);
  await pull.getManifest('latest');
  await expect(pull.getBlob(`sha256:${'1'.repeat(64)}`)).rejects.toThrow(/401/);
  expect(seen.some((s) => s.server === 'registry' && s.authorization === BASIC)).toBe(true);
  expect(seen.some((s) => s.server === 'elsewhere')).toBe(true);
  expect(credentialed('elsewhere')).toEqual([]);
});

test('a redirect from https down to http on the same host drops the credentials', async () => {
  const registry = await serve(
    'registry',
    basicRegistry((req, res, scheme) => {
      if (scheme === 'https') {
        res.writeHead(302, { Location: `http://127.0.0.1:${registry}/plain${req.url}` }).end();
        return;
      }
      res.writeHead(200, { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json' }).end(MANIFEST);
    }),
  );

  // The plain http copy wants the password too, and must not get it: the pull fails.
  await expect(client(registry).getManifest('latest')).rejects.toThrow(/401/);
  expect(seen.some((s) => s.scheme === 'https' && s.authorization === BASIC)).toBe(true);
  expect(seen.some((s) => s.scheme === 'http')).toBe(true);
  expect(seen.filter((s) => s.scheme === 'http' && s.authorization !== undefined)).toEqual([]);
});

test('a registry over https whose token realm is plain http gets the token asked for without the password', async () => {
  const tokens = await serve('token', tokenServer('anonymous-token'));
  const registry = await serve(
    'registry',
    bearerRegistry(() => `http://127.0.0.1:${tokens}/token`, 'anonymous-token'),
  );

  // The realm hands out an anonymous token, so the pull of a public image still works.
  const m = await client(registry).getManifest('latest');
  expect(m.body.toString()).toBe(MANIFEST);
  expect(seen.filter((s) => s.server === 'registry').every((s) => s.scheme === 'https')).toBe(true);
  expect(seen.some((s) => s.server === 'token')).toBe(true);
  expect(credentialed('token')).toEqual([]);
});

test('a token realm that wants the password over plain http fails the pull in words that say why', async () => {
  const tokens = await serve('token', (req, res) => {
    if (req.headers.authorization === undefined) res.writeHead(401).end();
    else res.writeHead(200, { 'Content-Type': 'application/json' }).end('{"token":"t"}');
  });
  const registry = await serve(
    'registry',
    bearerRegistry(() => `http://127.0.0.1:${tokens}/token`, 't'),
  );

  await expect(client(registry).getManifest('latest')).rejects.toThrow(
    `token request to 127.0.0.1:${tokens}: 401 Unauthorized (credentials are not sent to the token server ` +
      `http://127.0.0.1:${tokens} over plain http: the registry 127.0.0.1:${registry} is not an insecure registry)`,
  );
  expect(credentialed('token')).toEqual([]);
});

test('an insecure registry over plain http still gets its http token realm the password', async () => {
  const tokens = await serve('token', (req, res) => {
    if (req.headers.authorization !== BASIC) res.writeHead(401).end();
    else res.writeHead(200, { 'Content-Type': 'application/json' }).end('{"token":"t"}');
  });
  // Plain http only: the https probe of the insecure registry fails, and http is used.
  const plainOnly = await serve('registry', (req, res, scheme) => {
    if (scheme === 'https') {
      req.socket.destroy();
      return;
    }
    bearerRegistry(() => `http://127.0.0.1:${tokens}/token`, 't')(req, res, scheme);
  });

  const m = await client(plainOnly).getManifest('latest');
  expect(m.body.toString()).toBe(MANIFEST);
  expect(seen.filter((s) => s.server === 'token').map((s) => s.authorization)).toEqual([BASIC]);
});

test('a push whose upload location is on another host sends that host no credentials', async () => {
  const storage = await serve('storage', (_req, res) => {
    res.writeHead(201).end();
  });
  const registry = await serve(
    'registry',
    basicRegistry((req, res) => {
      if (req.method === 'HEAD') res.writeHead(404).end();
      else if (req.method === 'POST')
        res.writeHead(202, { Location: `https://127.0.0.1:${storage}/upload/1?state=x` }).end();
      else res.writeHead(400).end();
    }),
  );

  const pushing = new RegistryClient(`127.0.0.1:${registry}`, 'x/app', new RegistryHosts(), USER, 'pull,push');
  await pushing.pushBlob(`sha256:${'0'.repeat(64)}`, Buffer.from('layer'));
  expect(seen.some((s) => s.server === 'storage' && s.url.startsWith('/upload/1'))).toBe(true);
  expect(credentialed('storage')).toEqual([]);
});
