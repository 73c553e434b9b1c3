/**
 * The audit of `docker run` / `docker create` flags (test/audit/run-flags.ts) covers every flag
 * of docker CLI 28 and every field of API 1.41's create body, names tests that exist, and is
 * the table in docs/limitations.md, rendered from the list so that the two cannot drift
 * (`PODVISOR_WRITE_FLAG_TABLE=1 npx jest --selectProjects unit test/unit/lint/flag-audit.test.ts`
 * rewrites the table).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CLI28_RUN_FLAGS, RUN_FLAG_AUDIT, type FlagAuditEntry } from '../../audit/run-flags';
import { CreateBodySchema, HostConfigSchema } from '../../../src/api/v1.41/docker/docker-schema';

const root = path.resolve(__dirname, '../../..');
const LIMITATIONS = path.join(root, 'docs/limitations.md');
const START = '<!-- flag-audit:start (generated from test/audit/run-flags.ts) -->';
const END = '<!-- flag-audit:end -->';

/** The markdown table of the audit. */
function renderTable(entries: readonly FlagAuditEntry[]): string {
  const cell = (s: string) => s.replace(/\|/g, '\\|');
  const what = (e: FlagAuditEntry): string => {
    switch (e.status) {
      case 'honoured':
        return e.note ? `test/${e.test}; ${e.note}` : `test/${e.test}`;
      case 'refused':
        return e.error;
      case 'client':
        return e.note;
      default:
        return e.note ?? '';
    }
  };
  const counts = ['honoured', 'refused', 'client', 'not audited'].map(
    (s) => `${entries.filter((e) => e.status === s).length} ${s}`,
  );
  return [
    `${entries.length} rows: ${counts.join(', ')}.`,
    '',
    '| flag | API field(s) | podvisor | test, error or note |',
    '| --- | --- | --- | --- |',
    ...entries.map(
      (e) => `| \`${cell(e.flag)}\` | ${e.fields.map((f) => `\`${f}\``).join(', ')} | ${e.status} | ${cell(what(e))} |`,
    ),
  ].join('\n');
}

test('every flag of docker CLI 28 has one row, in the CLI order', () => {
  const flags = RUN_FLAG_AUDIT.filter((e) => e.flag.startsWith('--')).map((e) => e.flag);
  expect(flags).toEqual([...CLI28_RUN_FLAGS]);
});

test("every field of API 1.41's create body is in a row", () => {
  const listed = new Set(RUN_FLAG_AUDIT.flatMap((e) => e.fields));
  // The body's top level also takes HostConfig's fields (dockerd's embedded HostConfig):
  // audited under HostConfig.
  const config = Object.keys(CreateBodySchema.properties)
    .filter((k) => k !== 'HostConfig' && k !== 'NetworkingConfig' && !(k in HostConfigSchema.properties))
    .map((k) => `Config.${k}`);
  const host = Object.keys(HostConfigSchema.properties).map((k) => `HostConfig.${k}`);
  expect([...config, ...host, 'NetworkingConfig'].filter((f) => !listed.has(f))).toEqual([]);
});

test('each honoured row names a test that exists', () => {
  const missing = RUN_FLAG_AUDIT.flatMap((e) => {
    if (e.status !== 'honoured') return [];
    const [file, ...name] = e.test.split(': ');
    const p = path.join(root, 'test', file);
    const text = fs.existsSync(p) ? fs.readFileSync(p, 'utf8') : '';
    const title = name.join(': ');
    const quoted = [`'${title}'`, `"${title}"`, `\`${title}\``];
    return quoted.some((q) => text.includes(q)) ? [] : [`${e.flag}: ${e.test}`];
  });
  expect(missing).toEqual([]);
});

test("docs/limitations.md's table is the audit rendered", () => {
  const doc = fs.readFileSync(LIMITATIONS, 'utf8');
  const table = renderTable(RUN_FLAG_AUDIT);
  const a = doc.indexOf(START);
  const b = doc.indexOf(END);
  if (process.env.PODVISOR_WRITE_FLAG_TABLE === '1' && a >= 0 && b > a) {
    fs.writeFileSync(LIMITATIONS, `${doc.slice(0, a + START.length)}\n${table}\n${doc.slice(b)}`);
    return;
  }
  expect(a).toBeGreaterThanOrEqual(0);
  expect(doc.slice(a + START.length, b).trim()).toBe(table);
});
