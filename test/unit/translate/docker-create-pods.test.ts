/**
 * What a Docker create makes of each body of a broad table (./docker-create-cases.ts): the
 * PodSpec, the Docker record inspect shows (Config, HostConfig), the paths that get anonymous
 * volumes, or the error a client gets (its kind and message). The expected results
 * (./fixtures/docker-create-pods.json) were taken from the Docker create's own translation
 * before it went through the neutral request; a change to one is a change a client sees.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseCreateBody } from '../../../src/api/v1.41/docker/create-body';
import { translateCreate } from '../../../src/api/v1.41/docker/create';
import { decodeBody } from '../../../src/util/go-decode';
import { withEmbeddedHostConfig } from '../../../src/api/v1.41/docker/embedded-host-config';
import { CreateBodySchema, type CreateBody } from '../../../src/api/v1.41/docker/docker-schema';
import { imageWith as image } from './image-record';
import { CASES, LOOKUP, PLAIN_IMAGE, type DockerCreateCase } from './docker-create-cases';

const ID = 'f'.repeat(64);

/** What a create of case `c` gives, as plain JSON (see the module comment). */
function outcome(c: DockerCreateCase): unknown {
  try {
    const decoded = decodeBody<CreateBody>(CreateBodySchema, { Image: 'img', ...c.body });
    const parsed = parseCreateBody(withEmbeddedHostConfig(decoded), 2);
    if (c.asDockerd26) parsed.asDockerd26 = true;
    if (c.multipleEndpoints) parsed.multipleEndpoints = true;
    const t = translateCreate(parsed, image(c.image ?? PLAIN_IMAGE), ID, {
      defaults: { memoryMiB: 256, cpus: 1 },
      hostCpus: 2,
      ...(c.logDefaults ? { logDefaults: c.logDefaults } : {}),
      ...(c.networks === 'none' ? {} : { networks: LOOKUP }),
    });
    return JSON.parse(JSON.stringify(t));
  } catch (err) {
    return { error: (err as Error).constructor.name, message: (err as Error).message };
  }
}

const FIXTURE = path.join(__dirname, 'fixtures', 'docker-create-pods.json');
const expected = JSON.parse(fs.readFileSync(FIXTURE, 'utf8')) as Record<string, unknown>;

test('the table and its expected results name the same cases', () => {
  expect(CASES.map((c) => c.name).sort()).toEqual(Object.keys(expected).sort());
});

test.each(CASES.map((c) => [c.name, c] as const))('%s', (_name, c) => {
  expect(outcome(c)).toEqual(expected[c.name]);
});
