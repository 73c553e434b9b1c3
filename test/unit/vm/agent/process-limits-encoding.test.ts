/**
 * The PIDS_MAX field of a container's limits and the OOM_SCORE_ADJ field of START_PROCESS, as
 * the agent reads them (src/vm/agent/requests.ts, container-ops.ts): pids.max as a u64 (0 lifts
 * it), the OOM score as a two's complement int32 in a u32, checked to -1000..1000 first.
 */
import { TlvReader, TlvWriter } from '../../../../src/vm/agent/tlv';
import { Tag } from '../../../../src/vm/agent/protocol-tags';
import { putLimits } from '../../../../src/vm/agent/requests';
import { checkProcess, encodeProcess } from '../../../../src/vm/agent/container-ops';
import type { ProcessSpec } from '../../../../src/vm/agent-process-types';
import { InvalidArgumentError } from '../../../../src/errors';

const spec = (oomScoreAdj?: number): ProcessSpec => ({
  containerId: 'c1',
  processId: 'p1',
  args: ['true'],
  env: [],
  cwd: '/',
  user: { uid: 0, gid: 0, additionalGids: [] },
  terminal: false,
  stdin: false,
  ...(oomScoreAdj !== undefined ? { oomScoreAdj } : {}),
});

test('pids.max is PIDS_MAX; 0 is sent (no limit); a negative or fractional one is refused', () => {
  expect(TlvReader.parse(putLimits(new TlvWriter(), { pidsMax: 8 }).toBuffer()).u64(Tag.PIDS_MAX)).toBe(8);
  expect(TlvReader.parse(putLimits(new TlvWriter(), { pidsMax: 0 }).toBuffer()).u64(Tag.PIDS_MAX)).toBe(0);
  expect(TlvReader.parse(putLimits(new TlvWriter(), { memoryMax: 1 }).toBuffer()).has(Tag.PIDS_MAX)).toBe(false);
  expect(() => putLimits(new TlvWriter(), { pidsMax: -1 })).toThrow(InvalidArgumentError);
  expect(() => putLimits(new TlvWriter(), { pidsMax: 1.5 })).toThrow(InvalidArgumentError);
});

test('the OOM score goes as an int32; absent, no field; out of range, refused before sending', () => {
  const adj = (n?: number) => TlvReader.parse(encodeProcess(spec(n), 1024).toBuffer()).u32(Tag.OOM_SCORE_ADJ);
  expect(adj(500)).toBe(500);
  expect(adj(-1000)).toBe(0xfffffc18);
  expect(adj(undefined)).toBeUndefined();
  expect(() => checkProcess(spec(1001))).toThrow('invalid oom_score_adj 1001');
  expect(() => checkProcess(spec(-1001))).toThrow(InvalidArgumentError);
  expect(() => checkProcess(spec(-1000))).not.toThrow();
});
