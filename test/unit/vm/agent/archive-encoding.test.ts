/**
 * ARCHIVE's request fields as the agent reads them (src/vm/agent/archive.ts): the optional
 * ARCHIVE_ROOT of a stat, get or put (a volume's mount point that PATH is resolved in), and
 * the roots refused before anything is sent.
 */
import { TlvReader } from '../../../../src/vm/agent/tlv';
import { Tag } from '../../../../src/vm/agent/protocol-tags';
import { encodeArchive } from '../../../../src/vm/agent/archive';
import type { ArchiveRequest } from '../../../../src/vm/agent-types';
import { InvalidArgumentError } from '../../../../src/errors';

const ids = { containerId: 'c1', processId: 'p1' };
const fields = (req: ArchiveRequest) => TlvReader.parse(encodeArchive(req, 65536).toBuffer());

test('a stat, get or put with a root sends it beside PATH', () => {
  const stat = fields({ ...ids, kind: 'stat', path: '/seed', follow: false, root: '/data' });
  expect(stat.str(Tag.ARCHIVE_ROOT)).toBe('/data');
  expect(stat.str(Tag.PATH)).toBe('/seed');
  const get = fields({ ...ids, kind: 'get', path: '/', follow: false, name: 'data', root: '/var/lib/x' });
  expect(get.str(Tag.ARCHIVE_ROOT)).toBe('/var/lib/x');
  expect(get.str(Tag.ARCHIVE_NAME)).toBe('data');
  const put = fields({ ...ids, kind: 'put', path: '/sub', noOverwriteDirNonDir: true, root: '/data' });
  expect(put.str(Tag.ARCHIVE_ROOT)).toBe('/data');
});

test('without a root no ARCHIVE_ROOT is sent (the container root, as before)', () => {
  expect(fields({ ...ids, kind: 'stat', path: '/etc', follow: true }).has(Tag.ARCHIVE_ROOT)).toBe(false);
  expect(fields({ ...ids, kind: 'export' }).has(Tag.ARCHIVE_ROOT)).toBe(false);
});

test('a relative root, one with .., "/" itself or one too long is refused before sending', () => {
  const stat = (root: string) => () => encodeArchive({ ...ids, kind: 'stat', path: '/', follow: false, root }, 65536);
  expect(stat('data')).toThrow(InvalidArgumentError);
  expect(stat('/data/../etc')).toThrow(InvalidArgumentError);
  expect(stat('/')).toThrow(InvalidArgumentError);
  expect(stat(`/${'a'.repeat(5000)}`)).toThrow(InvalidArgumentError);
  expect(stat('/data')).not.toThrow();
});
