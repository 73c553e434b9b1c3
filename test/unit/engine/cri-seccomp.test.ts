/**
 * A CRI sandbox's or container's seccomp settings -> the Docker security option its creation
 * carries (src/engine/cri-seccomp.ts), as containerd 1.6 chooses the profile.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { InvalidArgumentError } from '../../../src/errors';
import { criSeccompOpts } from '../../../src/engine/cri-seccomp';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pv-cri-seccomp-'));
const file = path.join(dir, 'block-chmod.json');
const profile = '{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["chmod"],"action":"SCMP_ACT_ERRNO"}]}';
fs.writeFileSync(file, profile);
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('criSeccompOpts', () => {
  it('takes the SecurityProfile field first', async () => {
    expect(await criSeccompOpts({ profile: { profile_type: 'RuntimeDefault' } })).toEqual([]);
    expect(await criSeccompOpts({ profile: { profile_type: 'Unconfined' }, profilePath: 'runtime/default' })).toEqual([
      'seccomp=unconfined',
    ]);
    expect(await criSeccompOpts({ profile: { profile_type: 'Localhost', localhost_ref: file } })).toEqual([
      `seccomp=${profile}`,
    ]);
  });

  it('reads the deprecated seccomp_profile_path as containerd does; unset is unconfined', async () => {
    expect(await criSeccompOpts({})).toEqual(['seccomp=unconfined']);
    expect(await criSeccompOpts({ profilePath: '' })).toEqual(['seccomp=unconfined']);
    expect(await criSeccompOpts({ profilePath: 'unconfined' })).toEqual(['seccomp=unconfined']);
    expect(await criSeccompOpts({ profilePath: 'runtime/default' })).toEqual([]);
    expect(await criSeccompOpts({ profilePath: 'docker/default' })).toEqual([]);
    expect(await criSeccompOpts({ profilePath: `localhost/${file}` })).toEqual([`seccomp=${profile}`]);
  });

  it('gives a privileged one no filter, whatever it asks', async () => {
    expect(await criSeccompOpts({ privileged: true, profilePath: `localhost/${file}` })).toEqual([
      'seccomp=unconfined',
    ]);
  });

  it.each([
    ['a path without localhost/', { profilePath: file }, /invalid seccomp profile/],
    ['an unknown name', { profilePath: 'docker/strict' }, /invalid seccomp profile "docker\/strict"/],
    ['a missing file', { profilePath: `localhost/${dir}/none.json` }, /cannot load seccomp profile .*none\.json/],
    ['a relative path', { profile: { profile_type: 'Localhost', localhost_ref: 'p.json' } }, /is not absolute/],
    [
      'Localhost without a path',
      { profile: { profile_type: 'Localhost', localhost_ref: '' } },
      /without a localhost_ref/,
    ],
    ['a directory', { profilePath: `localhost/${dir}` }, /cannot load seccomp profile/],
  ])('refuses %s', async (_what, req, message) => {
    const p = criSeccompOpts(req);
    await expect(p).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(criSeccompOpts(req)).rejects.toThrow(message);
  });
});
