/**
 * The Docker layer's HTTP kit (src/api/v1.41/kit): where drifted copies used to disagree, the
 * one left follows dockerd 20.10. Each rule below was checked against a private dockerd 20.10
 * (Debian docker.io, API 1.41); the answers it gave are quoted.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import request from 'supertest';
import { exactBoolFilter, labelsMatch, pruneLabelsMatch } from '../../../src/api/v1.41/kit/filters';
import { sendJson, svc } from '../../../src/api/v1.41/kit/params';
import { pruneUntilSeconds, timeArgNanos } from '../../../src/api/v1.41/kit/time';
import { eventMatches } from '../../../src/api/v1.41/system';
import { httpStatusOf } from '../../../src/api/v1.41/errors';
import { createApiApp } from '../../../src/api/v1.41/server';
import { ImageService } from '../../../src/storage/service';
import { PodvisorError } from '../../../src/errors';
import type { DaemonEvent } from '../../../src/pod/events';

const LIST = [
  ['true', true],
  ['false', false],
] as const;
const PRUNE = [
  ['false', false],
  ['0', false],
  ['true', true],
  ['1', true],
] as const;

describe('dangling: exact words, one list per route', () => {
  // dockerd: GET /images/json?filters={"dangling":["1"]} -> 400 {"message":"Invalid filter 'dangling=[1]'"};
  // "true" and "false" -> 200; "TRUE", "True", "0", "yes" -> 400.
  test('GET /images/json knows exactly true and false', () => {
    expect(exactBoolFilter({ dangling: ['true'] }, 'dangling', LIST)).toBe(true);
    expect(exactBoolFilter({ dangling: ['false'] }, 'dangling', LIST)).toBe(false);
    expect(exactBoolFilter({}, 'dangling', LIST)).toBeUndefined();
    for (const v of ['1', '0', 'TRUE', 'True', 'yes'])
      expect(() => exactBoolFilter({ dangling: [v] }, 'dangling', LIST)).toThrow(`Invalid filter 'dangling=[${v}]'`);
    // Several values: the first word tried that is among them (dockerd: true+false lists dangling images only).
    expect(exactBoolFilter({ dangling: ['true', 'false'] }, 'dangling', LIST)).toBe(true);
  });

  // dockerd: POST /images/prune with dangling 1 or 0 -> 200; TRUE, True, yes -> 400; [true, bogus] -> 200.
  test('POST /images/prune also knows 1 and 0, and tries false first', () => {
    expect(exactBoolFilter({ dangling: ['1'] }, 'dangling', PRUNE)).toBe(true);
    expect(exactBoolFilter({ dangling: ['0'] }, 'dangling', PRUNE)).toBe(false);
    expect(exactBoolFilter({ dangling: ['true', 'bogus'] }, 'dangling', PRUNE)).toBe(true);
    expect(exactBoolFilter({ dangling: ['true', 'false'] }, 'dangling', PRUNE)).toBe(false);
    for (const v of ['TRUE', 'True', 'yes'])
      expect(() => exactBoolFilter({ dangling: [v] }, 'dangling', PRUNE)).toThrow(`Invalid filter 'dangling=[${v}]'`);
  });

  test('over HTTP: the two routes answer as dockerd', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pv-kit-'));
    try {
      const app = createApiApp({
        system: { version: '0.0.0-test', dataRoot: dir, accel: 'tcg' },
        images: await ImageService.open(dir),
      });
      const list = await request(app).get('/images/json').query({ filters: '{"dangling":["1"]}' });
      expect(list.status).toBe(400);
      expect(list.body).toEqual({ message: "Invalid filter 'dangling=[1]'" });
      const prune = await request(app).post('/images/prune').query({ filters: '{"dangling":["1"]}' });
      expect(prune.status).toBe(200);
      expect(prune.body).toEqual({ ImagesDeleted: null, SpaceReclaimed: 0 });
      expect((await request(app).post('/images/prune').query({ filters: '{"dangling":["True"]}' })).status).toBe(400);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('labels: every value must match (filters.Args.MatchKVList)', () => {
  const labels = { a: '1', b: '2', empty: '' };
  test('key, key=value and key= against a label map', () => {
    expect(labelsMatch(labels, ['a', 'b=2'])).toBe(true);
    expect(labelsMatch(labels, ['a=1', 'b=3'])).toBe(false);
    expect(labelsMatch(labels, ['empty='])).toBe(true);
    expect(labelsMatch(labels, ['a='])).toBe(false);
    expect(labelsMatch(labels, [])).toBe(true);
    expect(labelsMatch(null, [])).toBe(true);
    expect(labelsMatch(null, ['a'])).toBe(false);
  });

  test("an object's prototype is no label: label=constructor matches nothing", () => {
    expect(labelsMatch({}, ['constructor'])).toBe(false);
    expect(labelsMatch({ x: '1' }, ['toString'])).toBe(false);
  });

  // dockerd: an image labelled pvx=1 pvy=2, pruned with label=[pvx=1] and label!=[pvx=1, pvy=3],
  // is deleted: label! keeps an object only when all its values match.
  test('prune: label! keeps an object out only when all its values match', () => {
    expect(pruneLabelsMatch({ x: '1', y: '2' }, { label: ['x=1'], 'label!': ['x=1', 'y=3'] })).toBe(true);
    expect(pruneLabelsMatch({ x: '1', y: '2' }, { label: ['x=1'], 'label!': ['x=1', 'y=2'] })).toBe(false);
    expect(pruneLabelsMatch({ x: '1' }, { label: ['x=2'] })).toBe(false);
    expect(pruneLabelsMatch({}, {})).toBe(true);
  });

  // dockerd: a container created with labels pvla=1 pvlb=2; GET /events with
  // filters {"label":["pvla=1","pvlb=3"]} -> no events; ["pvla=1","pvlb=2"] -> create, destroy;
  // ["constructor"] -> none; ["pvla="] -> none.
  test('/events: the label values are AND-ed like every other route', () => {
    const e: DaemonEvent = {
      type: 'container',
      action: 'create',
      id: 'c1',
      attributes: { name: 'x', pvla: '1', pvlb: '2' },
      timeNano: 1n,
    };
    expect(eventMatches(e, { label: ['pvla=1', 'pvlb=3'] })).toBe(false);
    expect(eventMatches(e, { label: ['pvla=1', 'pvlb=2'] })).toBe(true);
    expect(eventMatches(e, { label: ['constructor'] })).toBe(false);
    expect(eventMatches(e, { label: ['pvla='] })).toBe(false);
    // Other keys still OR their values.
    expect(eventMatches(e, { event: ['start', 'create'] })).toBe(true);
  });
});

describe('answers', () => {
  test('sendJson: status first, exactly application/json, a newline after the document', async () => {
    const app = (await import('express')).default();
    app.get('/x', (_req, res) => sendJson(res, 201, { a: 1 }));
    const r = await request(app).get('/x');
    expect(r.status).toBe(201);
    expect(r.headers['content-type']).toBe('application/json');
    expect(r.text).toBe('{"a":1}\n');
  });

  test('svc: a missing container service is a 404 "page not found", a missing image service a 500', () => {
    const services = { system: { version: '0', dataRoot: '/', accel: 'tcg' } };
    const statusOf = (f: () => unknown) => {
      try {
        f();
      } catch (err) {
        return [httpStatusOf(err as PodvisorError), (err as Error).message];
      }
      return undefined;
    };
    expect(statusOf(() => svc(services, 'containers'))).toEqual([404, 'page not found']);
    expect(statusOf(() => svc(services, 'images'))).toEqual([500, 'the image service is not available']);
  });
});

// dockerd: POST /containers/prune and /images/prune with until=garbage -> "failed to parse value as
// time or duration: \"garbage\"" (both routes; dockerd says 500, podvisor 400: the input is bad);
// until=2021-13-01 and until=-1 refused; 10m, 1h30m, 1.5h, 2021-01-01, 2021-01-01T10,
// 2021-01-01T10:00:00Z, 1609459200, 1609459200.5 and 0 accepted. The container route used to
// ignore an unreadable until and prune every stopped container.
describe('prune until: one reader for both prune routes', () => {
  const now = Date.UTC(2024, 0, 1);
  test('durations back from now, dates and times, Unix seconds', () => {
    expect(pruneUntilSeconds('10m', now)).toBe(now / 1000 - 600);
    expect(pruneUntilSeconds('1h30m', now)).toBe(now / 1000 - 5400);
    expect(pruneUntilSeconds('1.5h', now)).toBe(now / 1000 - 5400);
    expect(pruneUntilSeconds('2021-01-01T10:00:00Z')).toBe(1609495200);
    expect(pruneUntilSeconds('2021-01-01T10:00:00+01:00')).toBe(1609491600);
    expect(pruneUntilSeconds('2021-01-01T10:00:00.5Z')).toBe(1609495200.5);
    expect(pruneUntilSeconds('2021-01-01')).toBe(new Date(2021, 0, 1).getTime() / 1000);
    expect(pruneUntilSeconds('2021-01-01T10')).toBe(new Date(2021, 0, 1, 10).getTime() / 1000);
    expect(pruneUntilSeconds('1609459200')).toBe(1609459200);
    expect(pruneUntilSeconds('1609459200.5')).toBe(1609459200.5);
    expect(pruneUntilSeconds('0')).toBe(0);
  });
  test('what dockerd refuses is refused (400), never read as "no filter"', () => {
    expect(() => pruneUntilSeconds('garbage')).toThrow('failed to parse value as time or duration: "garbage"');
    expect(() => pruneUntilSeconds('2021-13-01')).toThrow('parsing time "2021-13-01"');
    expect(() => pruneUntilSeconds('-1')).toThrow('parsing time "-1"');
    let err: unknown;
    try {
      pruneUntilSeconds('garbage');
    } catch (e) {
      err = e;
    }
    expect(httpStatusOf(err as PodvisorError)).toBe(400);
  });
});

// The logs and events routes each had a copy of this reader; they differed only in how `0` read.
test('since/until of logs and events: one reader; 0 is the start for since and no end for until', () => {
  expect(timeArgNanos('', 'since')).toBeUndefined();
  expect(timeArgNanos('0', 'since')).toBe(0n);
  expect(timeArgNanos('0', 'until')).toBeUndefined();
  expect(timeArgNanos('1609459200.5', 'until')).toBe(1609459200500000000n);
  expect(timeArgNanos('2021-01-01T00:00:00Z', 'since')).toBe(1609459200000000000n);
  expect(() => timeArgNanos('yesterday', 'since')).toThrow('strconv.ParseInt: parsing "yesterday": invalid syntax');
});
