/**
 * How the CRI shows stored images (containerd's way): fully qualified names, the config's User
 * as uid or username; and a CRI AuthConfig as the registry client's credentials.
 */
import { authOf, criImage, imageUser } from '../../../../src/api/cri/images';
import type { StoredImageView } from '../../../../src/storage/images';

test.each([
  [undefined, null, ''],
  ['', null, ''],
  ['1000', { value: '1000' }, ''],
  ['1000:1000', { value: '1000' }, ''],
  ['0', { value: '0' }, ''],
  ['www-data', null, 'www-data'],
  ['memcache:memcache', null, 'memcache'],
])('User %j is uid %j, username %j', (user, uid, username) => {
  expect(imageUser(user)).toEqual({ uid, username });
});

test('names are fully qualified; size as a decimal string', () => {
  const view = {
    id: 'sha256:' + 'a'.repeat(64),
    repoTags: ['busybox:latest', '127.0.0.1:5000/x/y:1', 'registry.k8s.io/pause:3.9'],
    repoDigests: ['busybox@sha256:' + 'b'.repeat(64)],
    config: {
      architecture: 'amd64',
      os: 'linux',
      config: { User: 'nobody' },
      rootfs: { type: 'layers', diff_ids: [] },
    },
    size: 1234,
    storedAt: 0,
    layers: [],
  } as StoredImageView;
  expect(criImage(view)).toEqual({
    id: view.id,
    repo_tags: ['docker.io/library/busybox:latest', '127.0.0.1:5000/x/y:1', 'registry.k8s.io/pause:3.9'],
    repo_digests: ['docker.io/library/busybox@sha256:' + 'b'.repeat(64)],
    size: '1234',
    uid: null,
    username: 'nobody',
    spec: null,
    pinned: false,
  });
});

test('AuthConfig: empty fields are unset; each kind of credential is carried', () => {
  const empty = { username: '', password: '', auth: '', server_address: '', identity_token: '', registry_token: '' };
  expect(authOf(empty)).toBeUndefined();
  expect(authOf(null)).toBeUndefined();
  expect(authOf({ ...empty, username: 'u', password: 'p' })).toEqual({ username: 'u', password: 'p' });
  expect(authOf({ ...empty, auth: 'dTpw' })).toEqual({ auth: 'dTpw' });
  expect(authOf({ ...empty, registry_token: 't', server_address: 'gcr.io' })).toEqual({
    registrytoken: 't',
    serveraddress: 'gcr.io',
  });
  expect(authOf({ ...empty, identity_token: 'i' })).toEqual({ identitytoken: 'i' });
});
