/**
 * The guest protocol header (guest/include/podvisor_agent.h) and its TypeScript mirror
 * (src/vm/agent/protocol.ts) must agree on every constant, in both directions.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  ArchiveFlag,
  ArchiveKind,
  ErrorCode,
  FrameType,
  Limits,
  MountFlag,
  Names,
  Op,
  PROTOCOL_VERSION,
  SeccompAct,
  SeccompCmp,
  SocketEvent,
  Stream,
  TAG_TYPES,
  Tag,
} from '../../../src/vm/agent/protocol';
import { AGENT_SHARE_MOUNT, DOCKER_INIT_PATH, POD_PAUSE_PATH } from '../../../src/vm/types';

const HEADER = path.join(__dirname, '../../../guest/include/podvisor_agent.h');

interface HeaderDefine {
  name: string;
  value: number | string;
  comment: string;
}

/** Every `#define PV_...` line of the header, with its value and trailing comment. */
function parseHeader(): HeaderDefine[] {
  const text = fs.readFileSync(HEADER, 'utf8');
  const out: HeaderDefine[] = [];
  for (const line of text.split('\n')) {
    const m = /^#define\s+(PV_\w+)\s+(.*?)\s*$/.exec(line);
    if (!m) continue;
    const [, name, rest] = m;
    const c = /^(.*?)\s*\/\*\s*(.*?)\s*\*\/$/.exec(rest);
    const raw = c ? c[1] : rest;
    const comment = c ? c[2] : '';
    let value: number | string;
    if (/^"[^"]*"$/.test(raw)) value = raw.slice(1, -1);
    else if (/^0x[0-9a-fA-F]+$/.test(raw)) value = parseInt(raw, 16);
    else if (/^\d+$/.test(raw)) value = Number(raw);
    else throw new Error(`header define ${name} is not a plain literal: ${raw}`);
    out.push({ name, value, comment });
  }
  return out;
}

/** The TypeScript constants, keyed by the header name they mirror. */
function tsConstants(): Map<string, number | string> {
  const m = new Map<string, number | string>();
  m.set('PV_PROTOCOL_VERSION', PROTOCOL_VERSION);
  const groups: [string, Record<string, number | string>][] = [
    ['PV_FRAME_', FrameType],
    ['PV_OP_', Op],
    ['PV_STREAM_', Stream],
    ['PV_TAG_', Tag],
    ['PV_ERR_', ErrorCode],
    ['PV_MOUNT_', MountFlag],
    ['PV_SECCOMP_ACT_', SeccompAct],
    ['PV_SECCOMP_CMP_', SeccompCmp],
    ['PV_ARCHIVE_', ArchiveKind],
    ['PV_ARCHIVE_F_', ArchiveFlag],
    ['PV_SOCKET_EVENT_', SocketEvent],
    ['PV_', Limits],
    ['PV_', Names],
  ];
  for (const [prefix, group] of groups) {
    for (const [k, v] of Object.entries(group)) {
      const name = prefix + k;
      if (m.has(name)) throw new Error(`duplicate TypeScript constant for ${name}`);
      m.set(name, v);
    }
  }
  return m;
}

describe('protocol contract: podvisor_agent.h <-> protocol.ts', () => {
  const defines = parseHeader();
  const ts = tsConstants();

  it('parses a plausible number of constants from the header', () => {
    expect(defines.length).toBeGreaterThan(60);
  });

  it('has every header constant in TypeScript with the same value', () => {
    const mismatches = defines
      .filter((d) => ts.get(d.name) !== d.value)
      .map((d) => `${d.name}: header ${JSON.stringify(d.value)}, ts ${JSON.stringify(ts.get(d.name))}`);
    expect(mismatches).toEqual([]);
  });

  it('has no TypeScript constant that the header lacks', () => {
    const names = new Set(defines.map((d) => d.name));
    expect([...ts.keys()].filter((n) => !names.has(n))).toEqual([]);
  });

  it('never gives two frame types or opcodes the same number', () => {
    const nums = [...Object.values(FrameType), ...Object.values(Op)];
    expect(new Set(nums).size).toBe(nums.length);
    expect(new Set(Object.values(Tag)).size).toBe(Object.values(Tag).length);
    expect(new Set(Object.values(ErrorCode)).size).toBe(Object.values(ErrorCode).length);
  });

  it('agrees on the value type of every tag (first word of the header comment)', () => {
    const tags = defines.filter((d) => d.name.startsWith('PV_TAG_'));
    const mismatches = tags
      .filter((d) => d.comment.split(':')[0] !== TAG_TYPES[d.value as number])
      .map((d) => `${d.name}: header ${d.comment.split(':')[0]}, ts ${TAG_TYPES[d.value as number]}`);
    expect(mismatches).toEqual([]);
    expect(Object.keys(TAG_TYPES).length).toBe(tags.length);
  });

  it('uses the share mount the VM layer exports', () => {
    expect(Names.SHARE_MOUNT).toBe(AGENT_SHARE_MOUNT);
  });

  it('binds docker-init where the pod layer starts it', () => {
    expect(Names.DOCKER_INIT_PATH).toBe(DOCKER_INIT_PATH);
  });

  it("binds the pod's pause where the pod layer starts it", () => {
    expect(Names.POD_PAUSE_PATH).toBe(POD_PAUSE_PATH);
  });

  it('lets a control frame carry the largest file plus its fields', () => {
    expect(Limits.MAX_CTL_PAYLOAD).toBeGreaterThan(Limits.MAX_FILE_SIZE + Limits.MAX_PATH + 1024);
  });
});
