// @ts-check
// A very small sequential test runner for the browser tests: each test gets
// a fresh browser context (its own cookies and storage); a failing test
// leaves a screenshot of every open page in test-results/.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';

/** @typedef {import('playwright-core').Browser} Browser */
/** @typedef {import('playwright-core').BrowserContext} BrowserContext */

/**
 * @typedef {object} TestContext
 * @property {BrowserContext} context
 * @property {(message: string) => void} log   prints an indented progress line
 */

/** @typedef {{name: string, fn: (t: TestContext) => Promise<void>, contextOptions?: import('playwright-core').BrowserContextOptions}} TestCase */

/** @param {string} name */
function slug(name) {
  return name
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-|-$/g, '')
    .slice(0, 60);
}

/**
 * Runs `tests` one after another and prints a closing `N passed, M failed` line.
 * @param {{browser: Browser, tests: TestCase[], resultsDir: string, onFailure?: () => string}} options
 * @returns {Promise<{passed: number, failed: number}>}
 */
export async function runTests({ browser, tests, resultsDir, onFailure }) {
  let passed = 0;
  let failed = 0;
  for (const test of tests) {
    const started = Date.now();
    const context = await browser.newContext({ ...test.contextOptions });
    context.setDefaultTimeout(15_000);
    context.setDefaultNavigationTimeout(20_000);
    console.log(`▶ ${test.name}`);
    try {
      await test.fn({ context, log: (message) => console.log(`    · ${message}`) });
      passed++;
      console.log(`✔ ${test.name} (${((Date.now() - started) / 1000).toFixed(1)} s)`);
    } catch (error) {
      failed++;
      console.log(`✘ ${test.name} (${((Date.now() - started) / 1000).toFixed(1)} s)`);
      console.log(indent(error instanceof Error ? (error.stack ?? error.message) : String(error)));
      mkdirSync(resultsDir, { recursive: true });
      let n = 0;
      for (const page of context.pages()) {
        const file = join(resultsDir, `${slug(test.name)}-${++n}.png`);
        try {
          await page.screenshot({ path: file, fullPage: true, timeout: 5000 });
          console.log(`    screenshot: ${file} (${page.url()})`);
        } catch {
          // the page may be gone
        }
      }
      if (onFailure) console.log(indent(`server log (tail):\n${onFailure()}`));
    } finally {
      await context.close().catch(() => {});
    }
  }
  return { passed, failed };
}

/** @param {string} text */
function indent(text) {
  return text
    .split('\n')
    .map((line) => `    ${line}`)
    .join('\n');
}
