/**
 * `docker login` (ImageService.login) against a server address the resolver refuses: the
 * error names the failed lookup in dockerd's words, not Node's resolver code (a host name of
 * 300 bytes is refused by getaddrinfo with EINVAL, before any DNS traffic); and a login for
 * Docker Hub never goes to a --registry-mirror (one that accepts anything answered "Login
 * Succeeded" for any password).
 */
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { ImageService } from '../../../src/storage/service';
import { UnavailableError } from '../../../src/errors';

let root: string;
beforeEach(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'podvisor-login-'));
});
afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

test('a host name the resolver refuses is a failed lookup, as dockerd words it', async () => {
  const svc = await ImageService.open(root);
  const host = 'x'.repeat(300);
  const err = await svc.login({ username: 'u', password: 'p', serveraddress: host }).then(
    () => new Error('it logged in'),
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(UnavailableError);
  expect((err as Error).message).toBe(`Get "https://${host}/v2/": dial tcp: lookup ${host}: no such host`);
});

test('a login for Docker Hub is checked at Docker Hub, never at a --registry-mirror', async () => {
  const seen: string[] = [];
  const mirror = http.createServer((req, res) => {
    seen.push(`${req.method} ${req.url}`);
    res.writeHead(200, { 'Content-Type': 'application/json' }).end('{}');
  });
  await new Promise<void>((r) => mirror.listen(0, '127.0.0.1', r));
  try {
    const svc = await ImageService.open(root, {
      registryMirrors: [`http://127.0.0.1:${(mirror.address() as { port: number }).port}`],
    });
    for (const serveraddress of ['https://index.docker.io/v1/', 'docker.io', undefined]) {
      // Offline: the lookup of registry-1.docker.io fails; online: Docker Hub refuses these credentials.
      const err = await svc
        .login({ username: 'u', password: 'not-checked-by-a-mirror', ...(serveraddress ? { serveraddress } : {}) })
        .then(
          () => new Error('it logged in'),
          (e: unknown) => e,
        );
      expect((err as Error).message).not.toBe('it logged in');
      expect((err as Error).message).toMatch(/registry-1\.docker\.io|unauthorized/);
    }
    expect(seen).toEqual([]);
    // Pulls still go through the mirror first.
    await svc.pull({ domain: 'docker.io', path: 'library/busybox', tag: 'latest' }, {}).catch(() => undefined);
    expect(seen.some((l) => l.startsWith('GET /v2/library/busybox/'))).toBe(true);
  } finally {
    mirror.close();
  }
});
