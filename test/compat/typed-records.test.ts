/**
 * Records never hold a wrong type, checked with the Go-typed client: the real daemon gets
 * wrong-typed and out-of-range values for every field of the update body (on a created and a
 * stopped-never-started container) and wrong-typed create bodies; each is refused with a 4xx, and
 * afterwards `docker inspect` (the stock CLI, whose decoder is Go's encoding/json) still decodes
 * every container, before and after a daemon restart. No VM boots: nothing is started.
 */
import { execFile } from 'node:child_process';
import * as http from 'node:http';
import { startDaemon, stopDaemonLeavingNothing, type TestDaemon } from '../helpers/daemon';
import { UpdateBodySchema } from '../../src/api/v1.41/docker/docker-schema';
import { fixtureRegistry } from '../fixtures/registry';

jest.setTimeout(120000);

const REG = fixtureRegistry();
const IMAGE = `${REG}/busybox`;

function docker(d: TestDaemon, args: string[]): Promise<{ out: string; err: string; code: number }> {
  return new Promise((resolve) => {
    execFile('docker', args, { env: d.env, timeout: 60000 }, (err, out, stderr) => {
      resolve({ out: String(out), err: String(stderr), code: err ? ((err as { code?: number }).code ?? 1) : 0 });
    });
  });
}

function post(d: TestDaemon, p: string, body: unknown): Promise<number> {
  return new Promise((resolve, reject) => {
    const data = Buffer.from(JSON.stringify(body));
    const req = http.request(
      {
        socketPath: d.socketPath,
        method: 'POST',
        path: p,
        headers: { 'Content-Type': 'application/json', 'Content-Length': data.length },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', reject);
    req.end(data);
  });
}

/** Values of the wrong JSON type for any field, and integers out of every Go range. */
const WRONG: unknown[] = ['abc', true, { a: 1 }, [1], 1.5, 2 ** 65, -(2 ** 65)];

describe('records keep their types (docker CLI inspect)', () => {
  let d: TestDaemon;
  const ids: string[] = [];
  beforeAll(async () => {
    d = await startDaemon({ vmPoolSize: 0 });
    expect((await docker(d, ['pull', '-q', IMAGE])).code).toBe(0);
    for (const name of ['typed-a', 'typed-b']) {
      const c = await docker(d, ['create', '--name', name, '-m', '64m', IMAGE, 'true']);
      expect(c.code).toBe(0);
      ids.push(c.out.trim());
    }
  });
  afterAll(async () => {
    if (!d) return;
    await docker(d, ['rm', '-f', ...ids]);
    await stopDaemonLeavingNothing(d);
  });

  test('every update field with a wrong type or out of range is refused, and inspect still decodes', async () => {
    const fields = Object.keys((UpdateBodySchema as unknown as { properties: Record<string, unknown> }).properties);
    expect(fields).toContain('CpuShares');
    const statuses = new Set<number>();
    for (const field of fields) {
      for (const value of WRONG) {
        // Values a field accepts (a string for CpusetCpus, an array for a list) may pass: only
        // a 5xx or a stored wrong type is a failure, and inspect below checks the latter.
        const status = await post(d, `/containers/${ids[0]}/update`, { [field]: value });
        expect(status).toBeLessThan(500);
        statuses.add(status);
      }
    }
    expect(statuses.has(400)).toBe(true);
    for (const body of [
      { Image: IMAGE, Env: [null] },
      { Image: IMAGE, Cmd: 5 },
      { Image: IMAGE, HostConfig: { Memory: 'x' } },
      { image: IMAGE, hostconfig: { pidslimit: 'x' } },
    ]) {
      expect(await post(d, '/containers/create', body)).toBe(400);
    }
    const inspected = await docker(d, ['inspect', ...ids]);
    expect(inspected.err).toBe('');
    expect(inspected.code).toBe(0);
    const parsed = JSON.parse(inspected.out) as Array<{ HostConfig: { Memory: number; CpuShares: number } }>;
    expect(parsed.map((c) => c.HostConfig.Memory)).toEqual([64 * 1024 * 1024, 64 * 1024 * 1024]);
    expect(parsed.every((c) => typeof c.HostConfig.CpuShares === 'number')).toBe(true);
  });

  test('after a restart the records load and the CLI still decodes them', async () => {
    await d.restart();
    const inspected = await docker(d, ['inspect', ...ids]);
    expect(inspected.err).toBe('');
    expect(inspected.code).toBe(0);
    expect((await docker(d, ['ps', '-a', '--format', '{{.Names}}'])).out.split('\n').filter(Boolean).sort()).toEqual([
      'typed-a',
      'typed-b',
    ]);
  });
});
