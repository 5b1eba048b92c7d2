// typescript-eslint's recommended rules on the TypeScript sources; formatting is prettier's (npm run format).
import js from '@eslint/js'
import prettier from 'eslint-config-prettier'
import globals from 'globals'
import tseslint from 'typescript-eslint'

export default tseslint.config(
  {ignores: ['dist/', 'node_modules/', 'coverage/', 'kernels/', 'oclif.manifest.json']},
  js.configs.recommended,
  ...tseslint.configs.recommended,
  prettier,
  {
    files: ['**/*.ts'],
    rules: {
      // `_`-prefixed names are deliberately unused (callbacks that must take an argument).
      '@typescript-eslint/no-unused-vars': [
        'error',
        {argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none', ignoreRestSiblings: true, args: 'after-used'},
      ],
    },
  },
  {
    // Tests match terminal control codes and aligned tables on purpose, and chai's `expect(x).to.be.true` is an expression.
    files: ['test/**/*.ts'],
    rules: {
      'no-control-regex': 'off',
      'no-regex-spaces': 'off',
      '@typescript-eslint/no-unused-expressions': 'off',
      // Crafting broken files edits untyped JSON.
      '@typescript-eslint/no-explicit-any': 'off',
    },
  },
  {
    files: ['**/*.mjs', 'scripts/**', 'bench/**'],
    languageOptions: {globals: globals.node},
  },
  {
    files: ['web/**/*.js'],
    languageOptions: {globals: globals.browser},
  },
)
