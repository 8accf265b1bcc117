// ESLint flat config: typescript-eslint's type-aware presets, plus the architecture's import boundaries.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const NODE_BUILTINS = ['node:*', 'fs', 'path', 'os', 'crypto', 'child_process', 'worker_threads', 'net', 'http', 'url'];
const nodeOnly = NODE_BUILTINS.map((name) => ({ group: [name], message: 'Node-only modules stay in src-main/.' }));
const noElectron = { name: 'electron', message: 'Electron is imported only in src-main/electron/.' };
/** A relative import of one of these src-main/ folders, from any depth below src-main/. */
const folders = (names) => `^(\\.\\./)+(${names.join('|')})(/|$)`;

export default tseslint.config(
  { ignores: ['node_modules/', 'out/', 'dist/', 'coverage/', 'src-main/http/public/', '**/*.d.ts'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  ...tseslint.configs.stylisticTypeChecked,
  {
    languageOptions: {
      parserOptions: { project: ['./tsconfig.node.json', './tsconfig.web.json'], tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true, allowBoolean: true }],
      '@typescript-eslint/consistent-type-definitions': 'off',
      '@typescript-eslint/prefer-nullish-coalescing': 'off',
      // Fastify plugins and route handlers are async by contract, awaiting or not.
      '@typescript-eslint/require-await': 'off',
      'no-console': 'off',
    },
  },
  {
    files: ['**/*.js'],
    ...tseslint.configs.disableTypeChecked,
    languageOptions: {
      ...tseslint.configs.disableTypeChecked.languageOptions,
      globals: { process: 'readonly', console: 'readonly', URL: 'readonly', setTimeout: 'readonly' },
    },
  },
  {
    // expect.any() and friends are typed `any` on purpose.
    files: ['test/**/*.ts'],
    rules: {
      '@typescript-eslint/no-unsafe-assignment': 'off',
      // Playwright polls a string predicate with eval in the page, which the pages' CSP refuses: an
      // EvalError under load, and a console line that looked like a CSP problem of the app's own.
      'no-restricted-syntax': [
        'error',
        {
          selector: "CallExpression[callee.property.name='waitForFunction']",
          message: 'Wait on a locator (or settle() in test/helpers/browser.ts) instead.',
        },
      ],
    },
  },
  {
    // Electron lives only in the desktop shell.
    files: ['src-main/**/*.ts', 'shared/**/*.ts', 'src-renderer/**/*.{ts,tsx}', 'test/**/*.ts', 'bench/**/*.ts'],
    ignores: ['src-main/electron/**'],
    rules: {
      'no-restricted-imports': ['error', { paths: [noElectron] }],
    },
  },
  {
    // The vault is a store of sealed codes, their crypto and the import's staging. Orders, stock and the
    // ledger are the engine's: what an import needs of them comes in as ImportBooks (engine/stock-import.ts).
    files: ['src-main/vault/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: [noElectron],
          patterns: [{ regex: folders(['engine']), message: 'The vault does not import the engine; pass what it needs in.' }],
        },
      ],
    },
  },
  {
    // db/ (SQLite) and lib/ (errors, worker threads, files) sit below every other layer of src-main/.
    files: ['src-main/db/**/*.ts', 'src-main/lib/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: [noElectron],
          patterns: [
            {
              regex: folders(['engine', 'app', 'cli', 'http', 'vault', 'payments', 'reconcile', 'rpc', 'sim', 'electron']),
              message: 'db/ and lib/ import only each other, shared/ and packages.',
            },
          ],
        },
      ],
    },
  },
  {
    // shared/ is read by both sides; the renderer is a web page. Neither may use Node or the engine.
    files: ['shared/**/*.ts', 'src-renderer/**/*.{ts,tsx}'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: [noElectron],
          patterns: [
            ...nodeOnly,
            {
              group: ['**/src-main/**', '../src-main/*', 'better-sqlite3'],
              message: 'The renderer and shared/ reach the engine only through the bridge.',
            },
          ],
        },
      ],
    },
  },
);
