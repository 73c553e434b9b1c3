/**
 * The layering of src is enforced by lint (eslint.config.js, one no-restricted-imports rule
 * per layer): for each layer, an import of a layer above it fails with the rule, and an
 * import of a layer below it passes. ESLint's Node API lints each snippet as if it were a
 * file of that layer, with the project's own config.
 */
import * as path from 'node:path';
import { ESLint } from 'eslint';

const root = path.resolve(__dirname, '../../..');
// The project's config, loaded here and handed over: ESLint would load the file with a dynamic
// import(), which jest's module sandbox does not run.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const config = require(path.join(root, 'eslint.config.js'));
const eslint = new ESLint({ cwd: root, overrideConfigFile: true, overrideConfig: config });

/** The no-restricted-imports findings of one import line in a file at `filePath`. */
async function restricted(filePath: string, importLine: string): Promise<string[]> {
  const [result] = await eslint.lintText(`${importLine}\nexport const used = [x];\n`, { filePath });
  return result.messages
    .filter((m) => m.ruleId === 'no-restricted-imports' || m.ruleId === '@typescript-eslint/no-restricted-imports')
    .map((m) => m.message);
}

// [file of the layer, an import it may not make, an import it may make]
const CASES: Array<[string, string, string]> = [
  ['src/errors.ts', "import { x } from './util/log';", "import * as x from 'node:util';"],
  ['src/util/zz.ts', "import { x } from '../storage/digest';", "import { x } from '../errors';"],
  ['src/util/zz.ts', "import { x } from '../pod/types';", "import { x } from './log';"],
  ['src/storage/zz.ts', "import { x } from '../pod/types';", "import { x } from '../util/log';"],
  ['src/storage/registry/zz.ts', "import type { x } from '../../translate/images';", "import { x } from '../digest';"],
  ['src/storage/zz.ts', "import { x } from '../net/ipam';", "import { x } from '../errors';"],
  ['src/storage/state.ts', "import type { x } from '../pod/types';", "import { x } from '../util/atomic';"],
  ['src/vm/zz.ts', "import { x } from '../pod/types';", "import { x } from '../util/mounter';"],
  ['src/vm/qemu/zz.ts', "import { x } from '../../net/bridge';", "import { x } from '../types';"],
  ['src/vm/zz.ts', "import { x } from '../api/v1.41/services';", "import { x } from '../storage/types';"],
  ['src/net/zz.ts', "import { x } from '../pod/types';", "import { x } from '../vm/types';"],
  ['src/pod/zz.ts', "import { x } from '../translate/create';", "import { x } from '../vm/types';"],
  ['src/pod/zz.ts', "import type { x } from '../api/v1.41/services';", "import { x } from '../net/ipam';"],
  ['src/pod/zz.ts', "import { x } from '../daemon/main';", "import { x } from '../storage/types';"],
  ['src/translate/zz.ts', "import { x } from '../api/v1.41/kit/params';", "import { x } from '../pod/types';"],
  ['src/translate/zz.ts', "import { x } from '../daemon/options';", "import { x } from '../storage/images';"],
  ['src/api/v1.41/zz.ts', "import { x } from '../../daemon/main';", "import { x } from '../../translate/images';"],
  [
    'src/api/v1.41/kit/zz.ts',
    "import { x } from '../../../daemon/listen';",
    "import { x } from '../../../pod/service';",
  ],
  ['src/api/v1.41/zz.ts', "import { x } from '../native/server';", "import { x } from '../../pod/types';"],
  ['src/api/native/zz.ts', "import { x } from '../v1.41/kit/params';", "import { x } from '../../pod/service';"],
  ['src/api/native/zz.ts', "import type { x } from '../../vm/types';", "import { x } from '../../translate/create';"],
  ['src/api/native/zz.ts', "import { x } from '../../daemon/main';", "import { x } from './views';"],
  ['src/api/cri/zz.ts', "import { x } from '../v1.41/errors';", "import { x } from '../../storage/service';"],
  ['src/api/cri/zz.ts', "import type { x } from '../native/views';", "import { x } from './errors';"],
  ['src/api/cri/zz.ts', "import { x } from '../../net/bridge';", "import { x } from '../../pod/types';"],
  ['src/api/cri/zz.ts', "import { x } from '../../daemon/listen';", "import { x } from '../../translate/create';"],
  ['src/api/v1.41/zz.ts', "import { x } from '../cri/server';", "import { x } from '../../storage/images';"],
  ['src/api/native/zz.ts', "import { x } from '../cri/images';", "import { x } from '../../storage/images';"],
  [
    'src/api/cri/streaming/zz.ts',
    "import { x } from '../../v1.41/kit/params';",
    "import { x } from '../../../pod/service';",
  ],
  [
    'src/api/cri/streaming/spdy/zz.ts',
    "import type { x } from '../../../../vm/types';",
    "import { x } from '../types';",
  ],
  ['src/api/cri/streaming/zz.ts', "import { x } from '../../native/server';", "import { x } from './tokens';"],
  ['src/api/http-status.ts', "import { x } from './v1.41/limits';", "import { x } from '../errors';"],
  ['src/api/http-status.ts', "import { x } from './native/errors';", "import * as x from 'node:http';"],
  ['src/api/http-status.ts', "import { x } from '../pod/types';", "import { x } from '../errors';"],
  ['src/api/native/zz.ts', "import { x } from '../v1.41/errors';", "import { x } from '../http-status';"],
  ['src/api/v1.41/zz.ts', "import { x } from '../native/errors';", "import { x } from '../http-status';"],
  ['src/cli/zz.ts', "import type { x } from '../api/native/views';", "import { x } from '../util/package-info';"],
  ['src/cli/zz.ts', "import { x } from '../pod/types';", "import { x } from './client';"],
  ['src/cli/zz.ts', "import { x } from '../builder/builder';", "import { x } from './client';"],
  // The CLI reads the native API's wire types, type-only, and nothing else of the daemon.
  ['src/cli/zz.ts', "import { x } from '../api/native/wire';", "import type { x } from '../api/native/wire';"],
  ['src/cli/zz.ts', "import { x, type y } from '../api/native/wire';", "import { type x } from '../api/native/wire';"],
  ['src/cli/zz.ts', "import type { x } from '../api/native/wire-x';", "import type { x } from '../api/native/wire';"],
  ['src/cli/zz.ts', "import type { x } from '../api/native/errors';", "import * as x from 'node:http';"],
  ['src/api/native/wire.ts', "import type { x } from '../../pod/types';", "import type { x } from 'node:http';"],
  ['src/api/native/wire.ts', "import type { x } from './views';", 'export const y = 1;'],
  ['src/dockerfile/zz.ts', "import { x } from '../pod/types';", "import { x } from './words';"],
  ['src/dockerfile/zz.ts', "import { x } from '../builder/cache';", "import type { x } from '../storage/types';"],
  ['src/dockerfile/zz.ts', "import { x } from '../translate/create';", "import { x } from '../errors';"],
  ['src/builder/zz.ts', "import type { x } from '../api/v1.41/services';", "import { x } from '../dockerfile/parse';"],
  ['src/builder/zz.ts', "import { x } from '../daemon/options';", "import { x } from '../engine/create';"],
  ['src/engine/zz.ts', "import { x } from '../builder/backend';", "import { x } from '../translate/create';"],
  ['src/engine/zz.ts', "import { x } from '../api/native/spec';", "import { x } from '../pod/service';"],
  ['src/translate/zz.ts', "import { x } from '../engine/create';", "import { x } from '../dockerfile/changes';"],
  ['src/pod/zz.ts', "import { x } from '../builder/builder';", "import { x } from '../storage/types';"],
  ['src/storage/zz.ts', "import { x } from '../dockerfile/parse';", "import { x } from './digest';"],
  // The folders by concern hold their layer's rule.
  [
    'src/pod/lifecycle/zz.ts',
    "import { x } from '../../translate/request/request-pod';",
    "import { x } from '../../vm/types';",
  ],
  [
    'src/pod/io/zz.ts',
    "import type { x } from '../../api/v1.41/services';",
    "import { x } from '../records/registry';",
  ],
  ['src/translate/request/zz.ts', "import { x } from '../../engine/create';", "import { x } from './policy/vm-size';"],
  [
    'src/api/v1.41/json/zz.ts',
    "import { x } from '../../../daemon/options';",
    "import { x } from '../../../pod/types';",
  ],
  [
    'src/vm/qemu/confinement/zz.ts',
    "import { x } from '../../../net/bridge';",
    "import { x } from '../../../util/mounter';",
  ],
  ['src/vm/devices/upper-disk/zz.ts', "import { x } from '../../../pod/types';", "import { x } from '../../qemu/qmp';"],
  ['src/api/v1.41/kit/zz.ts', "import { x } from '../../cri/server';", "import { x } from '../../../pod/events';"],
];

// Inside the pod layer: pod/manager composes the folders by concern; none imports it back.
test.each(['src/pod/lifecycle/zz.ts', 'src/pod/records/zz.ts', 'src/pod/network/deep/zz.ts'])(
  '%s may not import pod/manager',
  async (file) => {
    const up = '../'.repeat(file.split('/').length - 3);
    const found = await restricted(file, `import { x } from '${up}manager';`);
    expect(found).toHaveLength(1);
    expect(found[0]).toContain('may not import pod/manager');
  },
);

test('a file at the top of src/pod may import pod/manager', async () => {
  expect(await restricted('src/pod/zz.ts', "import { x } from './manager';")).toEqual([]);
});

// The neutral middle imports nothing of the Docker front, whose words are under src/api/v1.41.
describe.each([
  ['src/translate/request/zz.ts', '../../'],
  ['src/translate/request/policy/zz.ts', '../../../'],
  ['src/translate/network/zz.ts', '../../'],
])('%s', (file, up) => {
  test.each([
    'create-body',
    'create',
    'docker-schema',
    'resources',
    'security',
    'docker-types',
    'health',
    'log-config',
  ])('refuses api/v1.41/docker/%s', async (m) => {
    const found = await restricted(file, `import { x } from '${up}api/v1.41/docker/${m}';`);
    expect(found).toHaveLength(1);
    expect(found[0]).toContain('layers import only the layers below them');
  });
  test('allows the policy, the request and the rest of translate', async () => {
    expect(await restricted(file, `import { x } from '${up}translate/request/policy/vm-size';`)).toEqual([]);
    expect(await restricted(file, `import { x } from '${up}translate/network/network-plan';`)).toEqual([]);
  });
});

// The native front's pod-file readers make the neutral pod request: nothing of the Docker front
// (the fronts stand side by side); the engine imports none of them (nor anything of src/api).
describe('src/api/native/podspec', () => {
  const file = 'src/api/native/podspec/zz.ts';
  test.each(['create-body', 'create', 'docker-request', 'resources'])('refuses api/v1.41/docker/%s', async (m) => {
    expect(await restricted(file, `import { x } from '../../v1.41/docker/${m}';`)).toHaveLength(1);
  });
  test('allows the neutral request and the rest of the native front', async () => {
    expect(await restricted(file, "import type { x } from '../../../translate/request/pod-request';")).toEqual([]);
    expect(await restricted(file, "import { x } from '../../../translate/network/port-specs';")).toEqual([]);
    expect(await restricted(file, "import { x } from './podspec-types';")).toEqual([]);
    expect(await restricted(file, "import { x } from '../errors';")).toEqual([]);
  });
  test.each(["import { x } from '../../v1.41/errors';", "import type { x } from '../../../vm/types';"])(
    'still holds the native front: %s',
    async (line) => {
      expect(await restricted(file, line)).toHaveLength(1);
    },
  );
  test.each(['src/engine/zz.ts', 'src/engine/native.ts'])('%s may not import the readers', async (f) => {
    expect(await restricted(f, "import type { x } from '../api/native/podspec/podspec';")).toHaveLength(1);
    expect(await restricted(f, "import { x } from '../translate/request/request-pods';")).toEqual([]);
  });
  test.each(['docker-front', 'saved-state-refusal'])(
    'the engine may not import the Docker front (api/v1.41/create/%s)',
    async (m) => {
      expect(await restricted('src/engine/door.ts', `import { x } from '../api/v1.41/create/${m}';`)).toHaveLength(1);
    },
  );
});

test("the Docker front's words may import each other", async () => {
  expect(await restricted('src/api/v1.41/docker/zz.ts', "import { x } from './create-body';")).toEqual([]);
  expect(await restricted('src/api/v1.41/json/zz.ts', "import { x } from '../docker/docker-schema';")).toEqual([]);
  expect(await restricted('src/api/v1.41/create/zz.ts', "import { x } from '../docker/docker-request';")).toEqual([]);
});

describe.each(CASES)('%s', (file, forbidden, allowed) => {
  test(`refuses ${forbidden}`, async () => {
    const found = await restricted(file, forbidden);
    expect(found).toHaveLength(1);
    expect(found[0]).toContain('may not import from here');
  });
  test(`allows ${allowed}`, async () => {
    expect(await restricted(file, allowed)).toEqual([]);
  });
});

// The pod layer's doors: from each layer above it, an inner module of src/pod is refused;
// pod/service, pod/types, pod/errors and pod/events pass.
const ABOVE_POD: Array<[string, string]> = [
  ['src/translate/zz.ts', '../pod/'],
  ['src/engine/zz.ts', '../pod/'],
  ['src/builder/zz.ts', '../pod/'],
  ['src/api/zz.ts', '../pod/'],
  ['src/api/v1.41/zz.ts', '../../pod/'],
  ['src/api/v1.41/kit/zz.ts', '../../../pod/'],
  ['src/api/native/zz.ts', '../../pod/'],
  ['src/api/cri/zz.ts', '../../pod/'],
  ['src/api/cri/streaming/zz.ts', '../../../pod/'],
];
const INNER = [
  'mounts',
  'io',
  'detach',
  'op-queue',
  'types-extra',
  'service/x',
  'errors.ts',
  'lifecycle/runtime',
  'health/probes',
  'io/exec',
];
const DOORS = ['service', 'types', 'errors', 'events'];

describe.each(ABOVE_POD)('the pod layer from %s', (file, up) => {
  test.each(INNER)(`refuses pod/%s`, async (inner) => {
    const found = await restricted(file, `import type { x } from '${up}${inner}';`);
    expect(found).toHaveLength(1);
    expect(found[0]).toContain('only pod/service, pod/types, pod/errors and pod/events');
  });
  test.each(DOORS)(`allows pod/%s`, async (door) => {
    expect(await restricted(file, `import { x } from '${up}${door}';`)).toEqual([]);
  });
});

test('the daemon, which wires every layer, may import any of them', async () => {
  expect(await restricted('src/daemon/zz.ts', "import { x } from '../api/v1.41/server';")).toEqual([]);
  expect(await restricted('src/daemon/zz.ts', "import { x } from '../pod/manager';")).toEqual([]);
});
