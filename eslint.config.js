// Lint setup: typescript-eslint's recommended rules on src, test and bench, and the layering
// of src (docs/architecture.md): each layer may import the layers below it, never one above.
// A wrong import (type-only ones too) fails `npm run lint`; test/unit/lint/layering.test.ts
// checks that each rule fires.
const js = require('@eslint/js');
const tseslint = require('typescript-eslint');
const jestPlugin = require('eslint-plugin-jest');

/**
 * A relative import into one of `dirs` of src (`../pod/types`, `../../api/v1.41/x`). Matched
 * on the import's text: no two of our folders share these names, so a name is a layer.
 */
const into = (dirs) => `^(\\.\\.?/)+(${dirs.join('|')})(/|$)`;

/**
 * The repo's assertion helpers: a test calling one asserts (jest/expect-expect). By name, they
 * begin with `expect` (expectSameAsEach, expectTakenOver...); each throws
 * or calls expect when what it checks does not hold.
 */
const ASSERT_FUNCTIONS = ['expect', 'expect*'];

/** The service folders between translation and the API fronts. */
const SERVICES = ['engine', 'builder'];

/** The daemon's folders, none of which the CLI imports (but the native API's wire types). */
const CLI_FORBIDDEN = ['pod', 'translate', 'api', 'daemon', 'vm', 'storage', 'net', 'dockerfile', ...SERVICES];

/**
 * The pod layer's doors: from above it (translate, the services, the API fronts), only
 * `pod/service`, `pod/types`, `pod/errors` and `pod/events` may be imported; the rest of
 * src/pod is its inside. The daemon, which wires everything, is not held to this.
 */
const POD_DOORS = {
  regex: '^(\\.\\.?/)+pod/(?!(service|types|errors|events)$)',
  message:
    'only pod/service, pod/types, pod/errors and pod/events may be imported from above the pod layer: re-export what a front end needs there (docs/architecture.md).',
};

/** What the pod layer may not import: it is front-end neutral, knows no translation and no API. */
const POD_LAYER = [into(['translate', 'api', 'daemon', 'dockerfile', ...SERVICES])];

/** pod/manager.ts, seen from a folder of src/pod. */
const POD_MANAGER = {
  regex: '^(\\.\\./)+manager$',
  message:
    "a folder of src/pod may not import pod/manager: the manager composes the pod layer's modules, none imports it back (docs/architecture.md).",
};

/** What translation may not import: the services and fronts above it, the pod layer's inside. */
const TRANSLATE_LAYER = [into(['api', 'daemon', ...SERVICES]), POD_DOORS];

/**
 * One layer's rule: its files may not import from `forbidden` (regexes of import texts, or
 * `{ regex, message }` for a refusal with its own words).
 */
function layer(name, files, forbidden) {
  return {
    name: `layering/${name}`,
    files,
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: forbidden.map((f) =>
            typeof f === 'string'
              ? {
                  regex: f,
                  message: `${name} may not import from here: layers import only the layers below them (docs/architecture.md).`,
                }
              : f,
          ),
        },
      ],
    },
  };
}

module.exports = tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'guest/**', 'coverage/**', '*.js'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-constant-condition': ['error', { checkLoops: false }],
    },
  },
  // The error classes: the bottom of everything, they import nothing of ours.
  layer('src/errors.ts', ['src/errors.ts'], ['^\\.']),
  // Small helpers: nothing of ours but the error classes.
  layer('src/util', ['src/util/**/*.ts'], ['^\\.\\./(?!errors$)']),
  // Storage and the VM layer: below the pod layer and everything above it, and beside the network layer.
  layer(
    'src/storage',
    ['src/storage/**/*.ts'],
    [into(['pod', 'translate', 'api', 'daemon', 'net', 'dockerfile', ...SERVICES])],
  ),
  layer('src/vm', ['src/vm/**/*.ts'], [into(['pod', 'translate', 'api', 'daemon', 'net', 'dockerfile', ...SERVICES])]),
  // The network layer: beside storage and the VMs, below the pods.
  layer('src/net', ['src/net/**/*.ts'], [into(['pod', 'translate', 'api', 'daemon', 'dockerfile', ...SERVICES])]),
  // The pod layer: front-end neutral, knows no Docker translation and no API. Above it, each
  // layer's rule also holds POD_DOORS.
  layer('src/pod', ['src/pod/**/*.ts'], POD_LAYER),
  // The pod layer's folders by concern (lifecycle, io, mounts, network...) are composed by
  // pod/manager.ts, which hands each call to the module of its concern: none imports it back.
  layer('src/pod/*/', ['src/pod/*/**/*.ts'], [...POD_LAYER, POD_MANAGER]),
  // The neutral middle (the request, its policy and its translation into the pod): below the
  // services and every API front, so nothing of a front's words (src/api/v1.41/docker, the
  // native front's pod-file readers, the CRI's messages) reaches it.
  layer('src/translate', ['src/translate/**/*.ts'], TRANSLATE_LAYER),
  // The Dockerfile language (parse, words, instructions, changes): pure, at the translate level;
  // it knows no pods, VMs, networks or services.
  layer(
    'src/dockerfile',
    ['src/dockerfile/**/*.ts'],
    [into(['pod', 'vm', 'net', 'translate', 'api', 'daemon', ...SERVICES])],
  ),
  // The services every front end shares, above translation: the engine (creating pods from
  // requests) and the builder over it. Neither knows an API.
  layer('src/engine', ['src/engine/**/*.ts'], [into(['api', 'daemon', 'builder']), POD_DOORS]),
  layer('src/builder', ['src/builder/**/*.ts'], [into(['api', 'daemon']), POD_DOORS]),
  // The API fronts: below the daemon that wires them.
  layer('src/api', ['src/api/**/*.ts'], [into(['daemon']), POD_DOORS]),
  // What both HTTP fronts share, beside them (the HTTP status table): it imports only the
  // error classes, never a front.
  layer('src/api/http-status.ts', ['src/api/http-status.ts'], ['^\\.\\./(?!errors$)', '^\\./']),
  // The three API fronts stand side by side over the services below: none imports another, and
  // the native one and the CRI never reach the VM or network layers (the CRI gets what it needs
  // of them, such as the pod network's readiness, from the daemon that wires it).
  layer('src/api/v1.41', ['src/api/v1.41/**/*.ts'], [into(['daemon']), '^(\\.\\.?/)+(native|cri)(/|$)', POD_DOORS]),
  layer(
    'src/api/native',
    ['src/api/native/**/*.ts'],
    [into(['daemon', 'vm', 'net']), '^(\\.\\.?/)+(v1\\.41|cri)(/|$)', POD_DOORS],
  ),
  layer(
    'src/api/cri',
    ['src/api/cri/**/*.ts'],
    [into(['daemon', 'vm', 'net']), '^(\\.\\.?/)+(v1\\.41|native)(/|$)', POD_DOORS],
  ),
  // The CRI streaming server (exec/attach/port-forward URLs) reaches the runtime only through its
  // backend interface: no other API front, nothing below the pod layer.
  layer(
    'src/api/cri/streaming',
    ['src/api/cri/streaming/**/*.ts'],
    [into(['daemon', 'vm', 'net', 'storage', 'translate']), '^(\\.\\.?/)+(v1\\.41|native)(/|$)', POD_DOORS],
  ),
  // The CLI is a client of the API over its socket: nothing of the daemon's layers, but the
  // native API's wire types (src/api/native/wire.ts), type-only, so its compiled code needs
  // none of the daemon's. typescript-eslint's form of the rule, which knows type-only imports.
  {
    name: 'layering/src/cli',
    files: ['src/cli/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              regex: `^(?!(\\.\\./)+api/native/wire$)${into(CLI_FORBIDDEN).slice(1)}`,
              message:
                'src/cli may not import from here: the CLI speaks to the daemon over its socket (docs/architecture.md).',
            },
            {
              regex: '^(\\.\\./)+api/native/wire$',
              allowTypeImports: true,
              message:
                'src/cli may not import from here but type-only: `import type` the wire types (docs/architecture.md).',
            },
          ],
        },
      ],
    },
  },
  // Docker's create body is the Docker front's word: it stays in src/api/v1.41 (which parses it
  // in src/api/v1.41/docker). Every other front, the middle and the services speak the neutral ContainerRequest
  // (src/translate/request/container-request.ts); test/unit/lint/create-body.test.ts checks this fires.
  {
    name: 'docker-body/src',
    files: ['src/**/*.ts'],
    ignores: ['src/api/v1.41/**'],
    rules: {
      'no-restricted-syntax': [
        'error',
        {
          selector: 'Identifier[name=/CreateBody/]',
          message:
            "Docker's create body stays in src/api/v1.41: speak the neutral ContainerRequest (src/translate/request/container-request.ts, docs/architecture.md).",
        },
      ],
    },
  },
  // The native API's wire types: types only, importing nothing, so the CLI can read them.
  layer('src/api/native/wire.ts', ['src/api/native/wire.ts'], ['^\\.']),
  // Tests say what they check (issue 68): each case asserts, through expect or one of the
  // repo's assertion helpers named here; none is focused; none is skipped but through
  // test/helpers/skip.ts (testIf, describeIf), whose skips carry their reasons in their names;
  // no expect hides in a branch, where a host could take the other way.
  {
    name: 'tests/honest',
    files: ['test/**/*.ts'],
    plugins: { jest: jestPlugin },
    languageOptions: { globals: jestPlugin.environments.globals.globals },
    rules: {
      'jest/expect-expect': [
        'error',
        {
          assertFunctionNames: ASSERT_FUNCTIONS,
          additionalTestBlockFunctions: ['testIf', 'itUnless'],
        },
      ],
      'jest/no-focused-tests': 'error',
      'jest/no-disabled-tests': 'error',
      'jest/no-conditional-expect': 'error',
      // jest/no-disabled-tests sees `test.skip(...)`, not `(cond ? test : test.skip)(...)`:
      // any `.skip` or `.only` of jest's is refused by name.
      'no-restricted-syntax': [
        'error',
        {
          selector: 'MemberExpression[object.name=/^(test|it|describe)$/][property.name=/^(skip|only)$/]',
          message:
            'a skip goes through test/helpers/skip.ts (testIf, describeIf), its reason in its name; nothing is focused.',
        },
      ],
    },
  },
);
