/**
 * `docker cp` out of a tree deeper than any path (issue 67 item 5b), beside dockerd: the
 * daemon's walk holds a descriptor per level, and a tree 30,000 deep took every descriptor the
 * daemon may hold (its archive broke off, "unexpected EOF", and the daemon's other work with
 * it). Both daemons now give the same whole archive: every entry whose path fits in PATH_MAX,
 * then the tree's other entries; what lies deeper is left out, as dockerd leaves it out.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { BaselineDockerd } from '../../bench/common';
import { startBesideBaseline, stopBesideBaseline } from '../helpers/beside-baseline';
import type { TestDaemon } from '../helpers/daemon';
import { dockerCli, dockerOk } from '../helpers/docker-cli';
import { fixtureRegistry } from '../fixtures/registry';
import { makeDeepTree } from '../helpers/deep-tree';

jest.setTimeout(600_000);

const IMAGE = `${fixtureRegistry()}/busybox:latest`;
const LEVELS = 30_000;

let d: TestDaemon;
let base: BaselineDockerd | undefined;
let dir: string;

beforeAll(async () => ({ d, base, dir } = await startBesideBaseline('pv-cp-deep-', {}, [IMAGE])));
afterAll(async () => {
  if (dir) execFileSync('rm', ['-rf', path.join(dir, 'deep')]);
  await stopBesideBaseline({ d, base, dir });
});

/** `docker cp deep:/data -` on `daemon`, listed by tar: its exit codes and the names. */
function copyOut(daemon: { env: NodeJS.ProcessEnv }): { codes: string; names: string[] } {
  const r = spawnSync('bash', ['-c', 'docker cp deep:/data - | tar -tf -; echo "codes ${PIPESTATUS[*]}"'], {
    env: daemon.env,
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
  const lines = r.stdout.trimEnd().split('\n');
  return { codes: lines.pop() ?? '', names: lines };
}

test('docker cp out of a tree 30,000 deep gives what dockerd gives: a whole archive, what fits in PATH_MAX', async () => {
  const host = path.join(dir, 'deep');
  fs.mkdirSync(host);
  makeDeepTree(host, LEVELS);
  const results = [];
  for (const daemon of [d, base!]) {
    dockerOk(daemon, ['run', '-d', '--name', 'deep', '-v', `${host}:/data`, IMAGE, 'sleep', '1000']);
    try {
      results.push(copyOut(daemon));
    } finally {
      await dockerCli(daemon, ['rm', '-f', 'deep']);
    }
  }
  const [ours, theirs] = results;
  expect(theirs.codes).toBe('codes 0 0');
  expect(ours.codes).toBe('codes 0 0');
  expect(ours.names).toHaveLength(theirs.names.length);
  expect(ours.names).toEqual(theirs.names);
  // /data/d/.../d up to 4095 bytes: 2045 levels, then the file beside them; no leaf.
  expect(ours.names).toHaveLength(1 + 2045 + 1);
  expect(ours.names[ours.names.length - 1]).toBe('data/z-after');
  // The daemon still answers (no descriptor left behind it).
  expect(dockerOk(d, ['run', '--rm', IMAGE, 'echo', 'hi'])).toBe('hi');
});
