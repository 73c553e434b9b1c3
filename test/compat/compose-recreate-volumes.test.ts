/**
 * A service recreated by Compose keeps the data of its image's VOLUME, as with dockerd: the
 * image is built by podvisor's classic builder (`VOLUME /data`), and each `up -d` after a
 * change recreates the service's container, whose anonymous volume must carry over.
 *
 * - docker-compose 1.29 finds the paths to carry in the image's `ContainerConfig.Volumes`,
 *   which dockerd's classic builder records from each step's container config (before podvisor
 *   recorded it, the new container got an empty volume and the data was silently left behind);
 * - Compose v2 takes the old container's mounts.
 *
 * On a default daemon (its containers read their image from the image's disk), each service container keeps its
 * anonymous volume on its own disk: Compose v2 creates the new container while the old one
 * runs, then removes the old one (which moves the data to the volume's host directory);
 * docker-compose 1.29 stops the old one and starts the new one before removing the old one
 * (the new one's start moves the data).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { startDaemon, stopDaemonLeavingNothing, type TestDaemon } from '../helpers/daemon';
import { dockerOk, dockerSync } from '../helpers/docker-cli';
import { fixtureRegistry } from '../fixtures/registry';
import { composeV2, composeV2Env, composeV2Plugin } from '../helpers/compose-v2';

jest.setTimeout(600000);

const IMAGE = `${fixtureRegistry()}/busybox`;
let d: TestDaemon;
let dir: string;

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pv-recreate-'));
  d = await startDaemon();
  dockerOk(d, ['pull', '-q', IMAGE], 300000);
  fs.writeFileSync(path.join(dir, 'Dockerfile'), `FROM ${IMAGE}\nVOLUME /data\n`);
  dockerOk({ env: { ...d.env, DOCKER_BUILDKIT: '0' } }, ['build', '-q', '-t', 'voldata', dir], 300000);
});

afterAll(async () => {
  if (d) await stopDaemonLeavingNothing(d);
  fs.rmSync(dir, { recursive: true, force: true });
});

/** The log the service's containers wrote into its volume, once the newest has written `last`. */
async function volumeLog(container: string, last: string): Promise<string> {
  let log = '';
  for (let i = 0; i < 150 && !log.endsWith(last); i++) {
    log = dockerSync(d, ['exec', container, 'cat', '/data/log']).out;
    if (!log.endsWith(last)) await new Promise((r) => setTimeout(r, 200));
  }
  return log;
}

/** A service of image voldata that appends `word` to /data/log, then sleeps. */
const service = (word: string) =>
  `image: voldata\n    command: ["sh", "-c", "echo ${word} >> /data/log; sleep 1000"]\n`;

test("the built image records its VOLUME step's container config, and docker-compose 1.29's recreate keeps the volume's data", async () => {
  const api141 = { env: { ...d.env, DOCKER_API_VERSION: '1.41' } };
  expect(dockerOk(api141, ['image', 'inspect', '-f', '{{json .ContainerConfig.Volumes}}', 'voldata'])).toBe(
    '{"/data":{}}',
  );
  const compose = (args: string[]) => {
    const r = spawnSync('docker-compose', ['-p', 'rcv1', ...args], { cwd: dir, env: d.env, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`docker-compose ${args.join(' ')}: ${r.stderr}`);
    return r.stderr;
  };
  const file = path.join(dir, 'docker-compose.yml');
  try {
    fs.writeFileSync(file, `version: "2.4"\nservices:\n  app:\n    ${service('one')}`);
    compose(['up', '-d']);
    expect(await volumeLog('rcv1_app_1', 'one')).toBe('one');
    fs.writeFileSync(file, `version: "2.4"\nservices:\n  app:\n    ${service('two')}`);
    expect(compose(['up', '-d'])).toContain('Recreating rcv1_app_1');
    expect(await volumeLog('rcv1_app_1', 'two')).toBe('one\ntwo');
  } finally {
    compose(['down', '-v', '-t', '1']);
    fs.rmSync(file);
  }
});

test("Compose v2's recreate keeps the volume's data", async () => {
  const env = composeV2Env(d.env, composeV2Plugin());
  const file = path.join(dir, 'compose.yml');
  try {
    fs.writeFileSync(file, `services:\n  app:\n    ${service('one')}`);
    expect((await composeV2(env, dir, 'rcv2', ['up', '-d'])).code).toBe(0);
    expect(await volumeLog('rcv2-app-1', 'one')).toBe('one');
    fs.writeFileSync(file, `services:\n  app:\n    ${service('two')}`);
    const again = await composeV2(env, dir, 'rcv2', ['up', '-d']);
    expect(again.err).toContain('Container rcv2-app-1  Recreate');
    expect(again.code).toBe(0);
    expect(await volumeLog('rcv2-app-1', 'two')).toBe('one\ntwo');
  } finally {
    await composeV2(env, dir, 'rcv2', ['down', '-v', '-t', '1']);
    fs.rmSync(file);
  }
});
