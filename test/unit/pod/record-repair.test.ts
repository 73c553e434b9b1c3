/**
 * A record written by an older podvisor with fields of the wrong type (an older, unchecked
 * `docker update` stored `"CpuShares": "abc"`) loads, is repaired to Go's zero values, and is
 * logged with one warning; inspect of it then has the types a Go client decodes.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { harness, type Harness } from './fakes';
import { RECORD_FILE } from '../../../src/storage/state';
import { setLogSink } from '../../../src/util/log';
import { containerJson } from '../../../src/api/v1.41/json/inspect';

let h: Harness;
const lines: string[] = [];

beforeEach(async () => {
  h = await harness();
  lines.length = 0;
  setLogSink((l) => lines.push(l));
});

afterEach(async () => {
  setLogSink((l) => process.stderr.write(l + '\n'));
  await h.cleanup();
});

test('a hand-written bad record loads, is repaired, and logs one warning', async () => {
  const r = await h.create({ Image: 'busybox', Cmd: ['true'], Env: ['A=1'], HostConfig: { CpuShares: 512 } }, 'old');
  await h.state.flush();
  const file = path.join(h.state.root, r.id, RECORD_FILE);
  const rec = JSON.parse(fs.readFileSync(file, 'utf8'));
  rec.frontend.hostConfig.CpuShares = 'abc';
  rec.frontend.hostConfig.PidsLimit = 'x';
  rec.frontend.hostConfig.Memory = { big: true };
  rec.frontend.hostConfig.RestartPolicy.MaximumRetryCount = '3';
  rec.frontend.config.Env = 'A=1';
  rec.frontend.config.Tty = 1;
  rec.frontend.config.Labels = { a: 5 };
  fs.writeFileSync(file, JSON.stringify(rec));

  // A daemon restart loads it (the front end's repair is the pod manager's to call).
  const back = (await h.restartDaemon()).get(r.id);
  const warnings = lines.filter((l) => /warn/i.test(l));
  expect(warnings).toHaveLength(1);
  expect(warnings[0]).toContain(r.id);
  expect(warnings[0]).toContain('HostConfig.CpuShares');
  const j = containerJson(back, { dataRoot: h.root, execIds: [] }) as {
    HostConfig: Record<string, unknown>;
    Config: Record<string, unknown>;
  };
  expect(j.HostConfig.CpuShares).toBe(0);
  expect(j.HostConfig.PidsLimit).toBeNull();
  expect(j.HostConfig.Memory).toBe(0);
  expect((j.HostConfig.RestartPolicy as { MaximumRetryCount: unknown }).MaximumRetryCount).toBe(0);
  expect(j.Config.Env).toBeNull();
  expect(j.Config.Tty).toBe(false);
  expect(j.Config.Labels).toBeNull();
  // The repaired record was written back: the next load finds it sound, without a word.
  lines.length = 0;
  const again = (await h.restartDaemon()).get(r.id);
  expect(lines.filter((l) => /warn/i.test(l))).toHaveLength(0);
  expect(again.frontend).toEqual(back.frontend);
  expect(JSON.parse(fs.readFileSync(file, 'utf8')).frontend).toEqual(back.frontend);
});
