// Lint setup: typescript-eslint's recommended rules on src, test and bench, and the layering
// of src (docs/architecture.md): each layer may import the layers below it, never one above.
// A wrong import (type-only ones too) fails `npm run lint`; test/unit/lint/layering.test.ts
// checks that each rule fires.
const js = require('@eslint/js');
const tseslint = require('typescript-eslint');

/**
 * A relative import into one of `dirs` of src (`../pod/types`, `../../api/v1.41/x`). Matched
 * on the import's text: no two of our folders share these names, so a name is a layer.
 */
const into = (dirs) => `^(\\.\\.?/)+(${dirs.join('|')})(/|$)`;

/** The service folders between translation and the API fronts. */
const SERVICES = ['engine', 'builder'];

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
  layer('src/pod', ['src/pod/**/*.ts'], [into(['translate', 'api', 'daemon', 'dockerfile', ...SERVICES])]),
  // Docker <-> pod translation: below the services and the API.
  layer('src/translate', ['src/translate/**/*.ts'], [into(['api', 'daemon', ...SERVICES]), POD_DOORS]),
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
  // The two API fronts stand side by side over the pod service: neither imports the other, and
  // the native one, like the Docker one, never reaches the VM or network layers.
  layer('src/api/v1.41', ['src/api/v1.41/**/*.ts'], [into(['daemon']), '^(\\.\\.?/)+native(/|$)', POD_DOORS]),
  layer(
    'src/api/native',
    ['src/api/native/**/*.ts'],
    [into(['daemon', 'vm', 'net']), '^(\\.\\.?/)+v1\\.41(/|$)', POD_DOORS],
  ),
  // The CLI is a client of the API over its socket: nothing of the daemon's layers.
  layer(
    'src/cli',
    ['src/cli/**/*.ts'],
    [into(['pod', 'translate', 'api', 'daemon', 'vm', 'storage', 'net', 'dockerfile', ...SERVICES])],
  ),
);
