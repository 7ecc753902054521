import { defineConfig } from 'vite';

export default defineConfig({
  // Top-level await in the app and in midge-mqtt's loader.
  build: { target: 'es2022' },
  // Relative asset URLs: the test serves the build under a sub-path.
  base: './',
  logLevel: 'warn',
});
