/**
 * Every host operation on a path in src/pod, src/storage and src/vm (an fs call, a mount or
 * unmount of the daemon's Mounter, a spawn of a file tool such as mount, umount, rm or cp, a
 * removeTree)
 * either goes through the beneath helpers (src/util/beneath.ts, src/util/host-path.ts,
 * src/pod/mounts/bind-sources.ts, src/storage/archive/open-regular.ts, src/storage/archive/resolve.ts:
 * one of its arguments is built with them) or is on the allow-list beside this test
 * (./host-paths.allow.ts) with why it may act on its path by name. A guest may rename anything
 * it can write, or swap it for a symlink, at any moment (docs/security.md, "Host operations on
 * paths a container can write"): a new operation is classified by whoever writes it.
 * Operations are found with TypeScript's parser (test/helpers/host-path-calls.ts).
 */
import * as path from 'node:path';
import { hostPathCalls, hostPathCallsOf, type HostPathCall } from '../../helpers/host-path-calls';
import { ALLOWED } from './host-paths.allow';

const root = path.resolve(__dirname, '../../..');
const FOLDERS = ['src/pod', 'src/storage', 'src/vm'];

const all = hostPathCalls(root, FOLDERS);

/** The allow-list entry that covers `c`, if any. */
function entryFor(c: HostPathCall): (typeof ALLOWED)[number] | undefined {
  const call = c.call.replace(/ \(reference\)$/, '');
  return ALLOWED.find((a) => a.file === c.file && a.fn === c.fn && a.calls.includes(call));
}

test('every host-path operation goes through the beneath helpers or is allowed, with its reason', () => {
  const unclassified = all.filter((c) => !c.beneath && !entryFor(c));
  const message = unclassified.map(
    (c) =>
      `${c.file}:${c.line} ${c.fn}: ${c.call}(${c.args}) acts on a path by name. If a guest can write any ` +
      'part of that path (a share, a 9p writable layer, a bind source, a volume), reach it with the beneath ' +
      'helpers (src/util/beneath.ts at/openBeneath, RootDir, openBindSource; removeGuestTree for a tree); otherwise add ' +
      `{ file: '${c.file}', fn: '${c.fn}', calls: ['${c.call.replace(/ \(reference\)$/, '')}'], reason } ` +
      'to test/unit/lint/host-paths.allow.ts, saying why no guest reaches it',
  );
  expect(message).toEqual([]);
});

test('every allow-list entry still names operations of src, and gives a reason', () => {
  const stale = ALLOWED.flatMap((a) =>
    a.calls
      .filter(
        (call) =>
          !all.some((c) => c.file === a.file && c.fn === a.fn && c.call.replace(/ \(reference\)$/, '') === call),
      )
      .map((call) => `${a.file} ${a.fn}: ${call} is no longer there (remove it from host-paths.allow.ts)`),
  );
  expect(stale).toEqual([]);
  expect(ALLOWED.filter((a) => a.reason.trim().length < 20).map((a) => `${a.file} ${a.fn}`)).toEqual([]);
});

test('the scan finds the operations of src', () => {
  // A scan that found nothing would pass the tests above whatever src holds.
  expect(all.length).toBeGreaterThan(300);
  const find = (file: string, fn: string, call: string) =>
    all.find((c) => c.file === file && c.fn === fn && c.call === call);
  expect(find('src/pod/mounts/etc-files.ts', 'writeEtcFile', 'fs.promises.open')?.beneath).toBe(true);
  expect(find('src/pod/mounts/mounts.ts', 'bindCopy', 'mounter.bindTree')?.beneath).toBe(true);
  expect(find('src/vm/qemu/host-files.ts', 'removeTreeOnOneDevice', 'spawn rm')?.beneath).toBe(false);
});

describe('the scan', () => {
  const scan = (text: string) =>
    hostPathCallsOf(text, 'src/pod/x.ts').map((c) => `${c.fn} ${c.call} ${c.beneath ? 'beneath' : 'by-name'}`);

  test('finds fs, fs.promises and named imports, and leaves calls on descriptors out', () => {
    const text = [
      "import * as fs from 'node:fs';",
      "import { readFile as rf } from 'node:fs/promises';",
      'export function f(p: string, fd: number) {',
      '  fs.readFileSync(p);',
      '  fs.promises.open(p);',
      '  rf(p);',
      '  fs.fstatSync(fd);',
      '  fs.closeSync(fd);',
      '  return [p].filter(fs.existsSync);',
      '}',
    ].join('\n');
    expect(scan(text)).toEqual([
      'f fs.readFileSync by-name',
      'f fs.promises.open by-name',
      'f fs.promises.readFile by-name',
      'f fs.existsSync (reference) by-name',
    ]);
  });

  test('takes a path built with the helpers, directly or through a constant of its function, as beneath', () => {
    const text = [
      "import * as fs from 'node:fs';",
      "import { at } from '../util/beneath';",
      'class C {',
      '  m(dir: fs.promises.FileHandle, name: string) {',
      '    const p = at(dir, name);',
      '    fs.lstatSync(p);',
      '    fs.readdirSync(at(dir));',
      '    fs.readdirSync(`/proc/self/fd/${dir.fd}`);',
      '  }',
      '  n(p: string) {',
      '    fs.lstatSync(p);',
      '  }',
      '}',
    ].join('\n');
    expect(scan(text)).toEqual([
      'C.m fs.lstatSync beneath',
      'C.m fs.readdirSync beneath',
      'C.m fs.readdirSync beneath',
      'C.n fs.lstatSync by-name',
    ]);
  });

  test("finds the Mounter's mounts and unmounts, spawns of file tools and removeTree", () => {
    const text = [
      "import { execFile } from 'node:child_process';",
      "import { sharedMounter } from '../util/mounter';",
      "import { removeGuestTree, removeTree } from '../util/remove-tree';",
      'export async function g(t: string) {',
      '  await sharedMounter().unmount(t);',
      "  execFile('umount', [t]);",
      "  execFile('qemu-system-x86_64', [t]);",
      '  await agent.mount({ target: t });',
      '  await removeTree(t);',
      '  await removeGuestTree(t);',
      '}',
    ].join('\n');
    expect(scan(text)).toEqual(['g mounter.unmount by-name', 'g spawn umount by-name', 'g removeTree by-name']);
  });
});
