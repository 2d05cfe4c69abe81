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
    files: ['firmware/src/app/console-host.ts'],
    rules: { '@typescript-eslint/require-await': 'off' },
  },
  {
    // Matching control characters is the point here: the iPXE script sanitiser strips them, the line-editor tests
    // strip ANSI escapes from terminal output, the property tests assert that none survive.
    files: ['firmware/src/http/ipxe-script.ts', 'test/unit/console-line-editor.test.ts', 'test/unit/prop-http.test.ts', 'test/unit/prop-ipxe.test.ts'],
    rules: { 'no-control-regex': 'off' },
  },
  // The .js/.mjs files are Node scripts (build, bench, fuzz runners) and this config: Node's globals, no type information.
  { files: ['**/*.js', '**/*.mjs'], ...tseslint.configs.disableTypeChecked },
  { files: ['**/*.js', '**/*.mjs'], languageOptions: { globals: globals.node } },
);
