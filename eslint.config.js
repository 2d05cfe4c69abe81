// Lint rules for the whole repository: typescript-eslint's recommended type-aware set.
import js from '@eslint/js';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['node_modules/', 'build/out/', 'firmware/native/build/', 'bench/work/', 'bench/results/', 'test/fuzz/findings/', 'test/fuzz/corpus/'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: { parserOptions: { projectService: { allowDefaultProject: ['*.js', '*.mjs'] }, tsconfigRootDir: import.meta.dirname } },
  },
  {
    rules: {
      // A leading underscore marks a binding kept on purpose (`for (const _ of …)`, a parameter a signature requires),
      // and a destructured sibling of a rest element is how a property is left out of a copy.
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrorsIgnorePattern: '^_', destructuredArrayIgnorePattern: '^_', ignoreRestSiblings: true },
      ],
    },
  },
  {
    // AppConsoleHost implements the Promise-returning ConsoleHost over in-process services. Each method stays async,
    // awaiting or not, so a synchronous throw below it (an unknown node, a closed store) reaches the shell as a rejection.
    // The test console host in test/helpers/pty.ts implements the same interface the same way over fakes.
    files: ['firmware/src/app/console-host.ts', 'test/helpers/pty.ts'],
    rules: { '@typescript-eslint/require-await': 'off' },
  },
  {
    // Matching control characters is the point here: the iPXE script sanitiser strips them, the line-editor tests
    // strip ANSI escapes from terminal output, the property tests and fuzz targets assert that none survive.
    files: [
      'firmware/src/http/ipxe-script.ts',
      'test/unit/console-line-editor.test.ts',
      'test/unit/prop-http.test.ts',
      'test/unit/prop-ipxe.test.ts',
      'test/fuzz/targets/http-paths.ts',
      'test/fuzz/targets/ipxe-script.ts',
    ],
    rules: { 'no-control-regex': 'off' },
  },
  {
    // Each GPIO scenario runs in a child process and prints its findings as JSON; the tests read the fields they assert.
    files: ['test/integration/power-gpio.test.ts'],
    rules: {
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
    },
  },
  // The .js/.mjs files are Node scripts (build, bench, fuzz runners) and this config: Node's globals, no type information.
  { files: ['**/*.js', '**/*.mjs'], ...tseslint.configs.disableTypeChecked },
  { files: ['**/*.js', '**/*.mjs'], languageOptions: { globals: globals.node } },
);
