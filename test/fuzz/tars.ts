/**
 * Hostile tars for the routes that read one (docker cp's PUT archive, import, load, build):
 * names Linux cannot take (a 30,000-byte name, a 256-byte component, a path past PATH_MAX, a
 * 4,082-byte path that fits alone but not below a daemon's own directory, a symlink target
 * past PATH_MAX), a tar cut short in an entry's data, and bytes that are no tar. dockerd
 * answers these with a 500 "Error processing tar file(exit status 1): ..."; podvisor with a
 * 400, or a load's errorDetail.
 */
import { packTar } from '../fixtures/image-builder';

/**
 * The set, each with a short name for the case kind and, where it is sent to some routes
 * only, those routes. The 2,040-level path is valid for docker cp and build (as for dockerd),
 * and unpacking it takes seconds there (a few calls per level: docs/limitations.md): it goes
 * to import and load, which refuse it at once.
 */
export async function hostileTars(): Promise<Array<{ what: string; body: Buffer; only?: string[] }>> {
  const ok = { name: 'ok.txt', content: 'hi' };
  const full = await packTar([ok, { name: 'big', content: Buffer.alloc(100_000, 0x62) }]);
  return [
    { what: 'long-name', body: await packTar([ok, { name: 'x'.repeat(30_000), content: 'd' }]) },
    { what: 'long-component', body: await packTar([ok, { name: `d/${'y'.repeat(256)}`, content: 'd' }]) },
    {
      what: 'deep-path',
      body: await packTar([
        ok,
        { name: `${Array.from({ length: 50 }, () => 'z'.repeat(99)).join('/')}/f`, content: 'd' },
      ]),
    },
    {
      what: 'deepish-path',
      body: await packTar([ok, { name: `${Array.from({ length: 2040 }, () => 'a').join('/')}/f`, content: 'd' }]),
      only: ['/images/create', '/images/load'],
    },
    { what: 'long-symlink', body: await packTar([ok, { name: 's', type: 'symlink', linkname: 'q'.repeat(30_000) }]) },
    { what: 'cut-short', body: full.subarray(0, 512 * 3 + 50_000) },
    { what: 'garbage', body: Buffer.alloc(4096, 0x41) },
  ];
}
