// Shared setup: one static server for the package and the pages, one
// Chromium, helpers to open a page with midge loaded.
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { serve } from './server.mjs';
import { launch } from './browser.mjs';

export const here = dirname(fileURLToPath(import.meta.url));
export const root = join(here, '..', '..', '..');

export async function setup(extraMounts = {}) {
  const server = await serve({
    '/midge/': join(root, 'bindings-wasm', 'npm'),
    '/test/': join(root, 'bindings-wasm', 'e2e', 'pages'),
    ...extraMounts,
  });
  const browser = await launch();
  const errors = [];
  const openPage = async (path = '/test/index.html') => {
    const page = await browser.newPage();
    page.on('pageerror', (e) => errors.push(e));
    await page.goto(server.url + path);
    if (path.startsWith('/test/')) await page.waitForFunction(() => window.midgeReady);
    return page;
  };
  return {
    server,
    browser,
    errors,
    openPage,
    async close() {
      await browser.close();
      await server.close();
    },
  };
}
