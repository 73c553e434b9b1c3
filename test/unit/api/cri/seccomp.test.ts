/**
 * A CRI sandbox's or container's seccomp settings -> the seccomp filter of its neutral creation
 * request (src/api/cri/seccomp.ts), as containerd 1.6 chooses the profile.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { InvalidArgumentError } from '../../../../src/errors';
import { criSeccomp } from '../../../../src/api/cri/seccomp';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pv-cri-seccomp-'));
const file = path.join(dir, 'block-chmod.json');
const profile = '{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["chmod"],"action":"SCMP_ACT_ERRNO"}]}';
fs.writeFileSync(file, profile);
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
const UNCONFINED = { mode: 'unconfined' };
const DEFAULT = { mode: 'default' };
const PROFILE = { mode: 'profile', json: profile };

describe('criSeccomp', () => {
  it('takes the SecurityProfile field first', async () => {
    expect(await criSeccomp({ profile: { profile_type: 'RuntimeDefault' } })).toEqual(DEFAULT);
    expect(await criSeccomp({ profile: { profile_type: 'Unconfined' }, profilePath: 'runtime/default' })).toEqual(
      UNCONFINED,
    );
    expect(await criSeccomp({ profile: { profile_type: 'Localhost', localhost_ref: file } })).toEqual(PROFILE);
  });

  it('reads the deprecated seccomp_profile_path as containerd does; unset is unconfined', async () => {
    expect(await criSeccomp({})).toEqual(UNCONFINED);
    expect(await criSeccomp({ profilePath: '' })).toEqual(UNCONFINED);
    expect(await criSeccomp({ profilePath: 'unconfined' })).toEqual(UNCONFINED);
    expect(await criSeccomp({ profilePath: 'runtime/default' })).toEqual(DEFAULT);
    expect(await criSeccomp({ profilePath: 'docker/default' })).toEqual(DEFAULT);
    expect(await criSeccomp({ profilePath: `localhost/${file}` })).toEqual(PROFILE);
  });

  it('gives a privileged one no filter, whatever it asks', async () => {
    expect(await criSeccomp({ privileged: true, profilePath: `localhost/${file}` })).toEqual(UNCONFINED);
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
    const p = criSeccomp(req);
    await expect(p).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(criSeccomp(req)).rejects.toThrow(message);
  });
});
