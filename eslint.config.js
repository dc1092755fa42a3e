// One lint config for the repo. Type-aware rules catch floating promises (a lost
// Temporal call is a silent bug); the workflows/ override keeps the sandbox deterministic.
import js from '@eslint/js';
import prettier from 'eslint-config-prettier';
import tseslint from 'typescript-eslint';
import swoosh from './eslint/layers.js';

const nodeBuiltins = [
  'assert',
  'buffer',
  'child_process',
  'cluster',
  'crypto',
  'dgram',
  'dns',
  'events',
  'fs',
  'fs/promises',
  'http',
  'http2',
  'https',
  'net',
  'os',
  'path',
  'perf_hooks',
  'process',
  'readline',
  'stream',
  'timers',
  'tls',
  'url',
  'util',
  'v8',
  'vm',
  'worker_threads',
  'zlib',
];

export default tseslint.config(
  { ignores: ['node_modules/**', '.swoosh/**', 'coverage/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked.map((config) => ({ ...config, files: ['**/*.ts'] })),
  {
    files: ['**/*.ts'],
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
    },
  },
  {
    files: ['**/*.ts', '**/*.mjs', '**/*.js'],
    plugins: { swoosh },
    rules: { 'swoosh/layers': 'error' },
  },
  {
    files: ['**/*.js', '**/*.mjs'],
    languageOptions: { globals: { process: 'readonly', console: 'readonly' } },
  },
  {
    // The approvals page's script runs in a browser (api/console/serve.ts serves it as is).
    files: ['api/console/**/*.js'],
    languageOptions: {
      globals: Object.fromEntries(
        ['window', 'document', 'fetch', 'sessionStorage', 'crypto', 'btoa', 'atob', 'TextEncoder'].map(
          (name) => [name, 'readonly'],
        ),
      ),
    },
  },
  {
    files: ['workflows/**/*.ts', 'bench/raw/entity-workflow.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: nodeBuiltins.flatMap((name) => [
            { name, message: 'Workflow code runs in the deterministic sandbox: no Node built-ins.' },
            {
              name: `node:${name}`,
              message: 'Workflow code runs in the deterministic sandbox: no Node built-ins.',
            },
          ]),
          patterns: [
            {
              group: ['**/activities/*', '!**/activities/index'],
              message: 'Import activities only as types, via proxyActivities.',
            },
            {
              group: ['@temporalio/client', '@temporalio/worker', '@temporalio/activity'],
              message: 'Not sandbox-safe.',
            },
          ],
        },
      ],
      'no-restricted-globals': [
        'error',
        { name: 'setTimeout', message: 'Use sleep() from @temporalio/workflow.' },
        { name: 'setInterval', message: 'Use sleep() in a loop from @temporalio/workflow.' },
        { name: 'process', message: 'No process access in workflow code.' },
      ],
      'no-restricted-properties': [
        'error',
        {
          object: 'Math',
          property: 'random',
          message: 'Use uuid4() from @temporalio/workflow so the intent is explicit.',
        },
      ],
    },
  },
  prettier,
);
