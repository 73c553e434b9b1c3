/**
 * The one check of an image config's rootfs.diff_ids (src/storage/digest.ts hasValidDiffIds),
 * made by pull and by load alike.
 */
import { hasValidDiffIds } from '../../../src/storage/digest';

const d = (c: string) => `sha256:${c.repeat(64)}`;

test.each([
  ['a list of digests', { rootfs: { type: 'layers', diff_ids: [d('a'), d('b')] } }, true],
  ['an empty list', { rootfs: { type: 'layers', diff_ids: [] } }, true],
  ['no rootfs', { architecture: 'amd64' }, false],
  ['diff_ids not a list', { rootfs: { diff_ids: d('a') } }, false],
  ['a malformed digest', { rootfs: { diff_ids: [d('a'), 'sha256:xyz'] } }, false],
  ['a digest of another algorithm', { rootfs: { diff_ids: [`sha512:${'a'.repeat(128)}`] } }, false],
  ['null', null, false],
  ['a string', 'config', false],
])('%s', (_what, config, ok) => {
  expect(hasValidDiffIds(config)).toBe(ok);
});
