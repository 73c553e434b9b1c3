/**
 * `docker login` (ImageService.login) against a server address the resolver refuses: the
 * error names the failed lookup in dockerd's words, not Node's resolver code (a host name of
 * 300 bytes is refused by getaddrinfo with EINVAL, before any DNS traffic).
 */
import * as fs from 'node:fs';
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
  const err = await svc.login({ username: 'u', password: 'p', serveraddress: host }).then(() => new Error('it logged in'), (e: unknown) => e);
  expect(err).toBeInstanceOf(UnavailableError);
  expect((err as Error).message).toBe(`Get "https://${host}/v2/": dial tcp: lookup ${host}: no such host`);
});
