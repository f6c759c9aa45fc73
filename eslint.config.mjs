import nextVitals from 'eslint-config-next/core-web-vitals';
import nextTs from 'eslint-config-next/typescript';

/** Library code that must run outside Next.js (the worker, tests, the bench). */
const frameworkFree = ['lib/domain', 'lib/store', 'lib/loop', 'lib/approval', 'lib/gateway', 'lib/mail', 'lib/config', 'lib/validations', 'lib/portal', 'lib/kube', 'lib/fs', 'plugins'];

const config = [
  ...nextVitals,
  ...nextTs,
  {
    ignores: ['.next/**', 'dist/**', 'node_modules/**', 'next-env.d.ts', 'test-results/**', 'playwright-report/**'],
  },
  {
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', ignoreRestSiblings: true }],
    },
  },
  {
    // Layers point one way: app → lib → domain; plugins see only the plugin contract.
    files: ['lib/**/*.ts', 'plugins/**/*.ts', 'app/**/*.ts', 'app/**/*.tsx', '*.ts'],
    settings: { 'import/resolver': { typescript: { project: './tsconfig.json' }, node: true } },
    rules: {
      'import/no-cycle': ['error', { ignoreExternal: true }],
      'import/no-restricted-paths': [
        'error',
        {
          zones: [
            { target: ['./lib', './plugins'], from: './app', message: 'lib/ and plugins/ never import pages or route handlers' },
            { target: './lib/domain', from: ['./lib', './plugins'], except: ['./domain'], message: 'the domain depends on nothing else in the project' },
            { target: './lib/validations', from: ['./lib', './plugins'], except: ['./validations', './domain'], message: 'boundary schemas depend only on the domain' },
            { target: './lib/store', from: ['./lib/loop', './lib/portal', './lib/http', './lib/auth', './plugins'], message: 'the store knows nothing of its callers' },
            { target: './lib/config', from: './plugins', message: 'plugins check their own config; the composition root (lib/runtime.ts) hands them to the loader' },
            { target: './plugins', from: ['./lib/config', './lib/store', './lib/loop', './lib/portal', './lib/http', './lib/auth'], message: 'a plugin sees only the plugin contract (lib/approval) and the domain' },
          ],
        },
      ],
    },
  },
  {
    files: frameworkFree.map((dir) => `${dir}/**/*.ts`),
    rules: {
      'no-restricted-imports': ['error', { patterns: [{ group: ['next', 'next/*', 'next-auth', 'next-auth/*', 'react', 'react-dom'], message: 'domain and service code never imports Next.js or React' }] }],
    },
  },
];

export default config;
