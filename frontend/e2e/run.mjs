// @ts-check
// Browser tests: the built SPA (frontend/dist) served by `bff dev`, driven
// by headless Chromium (/usr/bin/chromium through playwright-core; no
// browser download). They build nothing but the BFF binary: run
// `npm run build` first (the Makefile does).
//
// After every step they check that no access, refresh or ID token issued
// by the dev identity provider is in localStorage, sessionStorage,
// document.cookie or any response body the browser received.
//
//   npm run e2e                    all tests
//   E2E_SCREENSHOTS=1 npm run e2e  also save a screenshot after each step
//   E2E_GREP=Discord npm run e2e   only tests whose name contains the text
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { buildBff, startBff } from './bff.mjs';
import { runTests } from './harness.mjs';
import { ResponseLog, assertNoTokenLeak } from './leaks.mjs';

/** @typedef {import('playwright-core').Page} Page */
/** @typedef {import('playwright-core').BrowserContext} BrowserContext */
/** @typedef {import('./harness.mjs').TestCase} TestCase */

const frontend = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const repoRoot = resolve(frontend, '..');
const spaDir = join(frontend, 'dist');
const resultsDir = join(frontend, 'test-results');
const chromiumPath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

const ALICE = { username: 'alice', password: 'alice-password', name: 'Alice Example' };
const NELLY = { username: 'nelly', displayName: 'Nelly', discordId: '80351110224678912' };

if (!existsSync(join(spaDir, 'index.html'))) {
  console.error(`No built SPA at ${spaDir}: run \`npm run build\` first.`);
  console.log('0 passed, 1 failed');
  process.exit(1);
}

const work = mkdtempSync(join(tmpdir(), 'spa-e2e-'));
rmSync(resultsDir, { recursive: true, force: true }); // screenshots and log of the last run only
mkdirSync(resultsDir, { recursive: true });

/** @type {import('./bff.mjs').RunningBff | null} */
let bff = null;
/** @type {import('playwright-core').Browser | null} */
let browser = null;
const cleanup = async () => {
  await browser?.close().catch(() => {});
  await bff?.stop();
  rmSync(work, { recursive: true, force: true });
};
for (const signal of /** @type {const} */ (['SIGINT', 'SIGTERM'])) {
  process.once(signal, () => void cleanup().finally(() => process.exit(130)));
}

// Filled in once bff dev runs (see the bottom of this file).
let origin = '';
let idpOrigin = '';
let issuer = '';
/** The issuer as Node reaches it (the servers listen on 127.0.0.1 only). */
let issuerForNode = '';

// ---------------------------------------------------------------- helpers

/** @param {string} url */
const onApp = (url) => new URL(url).origin === origin && !new URL(url).pathname.startsWith('/auth/');
/** @param {string} url */
const onIdp = (url) => new URL(url).origin === idpOrigin;

/** @param {Page} page */
const signInLink = (page) => page.getByRole('link', { name: 'Sign in', exact: true });
/** @param {Page} page */
const appSignOut = (page) => page.getByRole('button', { name: 'Sign out', exact: true });

/**
 * @param {Page} page
 * @param {(url: URL) => boolean} predicate
 */
async function waitForUrl(page, predicate) {
  await page.waitForURL(predicate, { waitUntil: 'domcontentloaded' });
}

let stepShot = 0;
/**
 * Saves a screenshot when E2E_SCREENSHOTS is set (for looking at the UI).
 * @param {Page} page
 * @param {string} name
 */
async function snap(page, name) {
  if (!process.env.E2E_SCREENSHOTS) return;
  const dir = join(resultsDir, 'steps');
  mkdirSync(dir, { recursive: true });
  await page.screenshot({ path: join(dir, `${String(++stepShot).padStart(2, '0')}-${name}.png`), fullPage: true });
}

/**
 * Every test's browser context logs responses; `check` runs the leak check.
 * @param {BrowserContext} context
 */
function leakChecker(context) {
  const log = new ResponseLog(context);
  /**
   * @param {string} step
   * @param {{expectTokens?: boolean}} [options]
   */
  return async (step, options = {}) => {
    await assertNoTokenLeak({ context, log, issuer: issuerForNode, step, ...options });
  };
}

/** @param {Page} page */
async function expectSignedOutView(page) {
  await signInLink(page).waitFor();
  assert.equal(await appSignOut(page).count(), 0, 'a Sign out button is shown while signed out');
}

/**
 * From the signed-out view: Sign in → the IdP's password form → back, signed in.
 * @param {Page} page
 * @param {{username: string, password: string}} user
 */
async function signInWithPassword(page, user) {
  await signInLink(page).click();
  await waitForUrl(page, (url) => onIdp(url.href));
  await page.getByRole('heading', { name: 'Sign in' }).waitFor();
  await page.getByLabel(/^Username/).fill(user.username);
  await page.getByLabel(/^Password/).fill(user.password);
  await snap(page, 'idp-sign-in');
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  await waitForUrl(page, (url) => onApp(url.href));
  await appSignOut(page).waitFor();
}

/**
 * Signs out with the app's button, confirms at the IdP, lands signed out.
 * @param {Page} page
 */
async function signOut(page) {
  await appSignOut(page).click();
  await waitForUrl(page, (url) => onIdp(url.href) || onApp(url.href));
  if (onIdp(page.url())) {
    // The dev IdP (like Logto) asks to confirm ending its own session.
    await snap(page, 'idp-sign-out');
    await page.getByRole('button', { name: 'Sign out' }).click();
    await waitForUrl(page, (url) => onApp(url.href));
  }
  await expectSignedOutView(page);
}

/**
 * The profile's value for a labelled fact (a <dt>/<dd> pair).
 * @param {import('playwright-core').Locator} scope
 * @param {string} label
 */
async function fact(scope, label) {
  const term = scope.page().locator('dt', { hasText: new RegExp(`^${label}$`) });
  const value = await scope.locator('.fact', { has: term }).locator('dd').innerText();
  return value.trim();
}

/** @param {Page} page */
async function apiViewAnswer(page) {
  const status = page.getByTestId('api-status');
  await status.waitFor();
  const body = await page.getByLabel('Response body').innerText();
  return { status: (await status.innerText()).trim(), body };
}

// ------------------------------------------------------------------ tests

/** @type {TestCase[]} */
const tests = [
  {
    name: 'password sign-in shows the profile, the API answer, and sign-out holds',
    async fn({ context, log }) {
      const check = leakChecker(context);
      const page = await context.newPage();
      await page.goto(`${origin}/`, { waitUntil: 'domcontentloaded' });
      await expectSignedOutView(page);
      await page.getByRole('link', { name: 'Create account' }).waitFor();
      await page.getByRole('link', { name: 'Continue with Discord' }).waitFor();
      await snap(page, 'signed-out');
      await check('signed out');

      await signInWithPassword(page, ALICE);
      const main = page.getByRole('main');
      await page.getByRole('heading', { level: 1, name: ALICE.name }).waitFor();
      assert.equal(await fact(main, 'Username'), ALICE.username);
      assert.match(await fact(main, 'Email'), /Verified/);
      assert.match(await page.getByRole('list', { name: 'Roles', exact: true }).innerText(), /admin/);
      assert.match(await page.getByRole('list', { name: /^Roles in / }).innerText(), /editor/);
      assert.match(await fact(main, 'Session expires'), /\d/);
      const sub = await fact(main, 'User ID');
      assert.ok(sub.length > 0, 'the profile shows the user id');
      log(`signed in as ${ALICE.username} (sub ${sub})`);
      await snap(page, 'profile-alice');
      await check('signed in', { expectTokens: true });

      await page.getByRole('link', { name: 'API', exact: true }).click();
      await waitForUrl(page, (url) => url.hash === '#/api');
      const answer = await apiViewAnswer(page);
      assert.match(answer.status, /^200\b/);
      const echoed = JSON.parse(answer.body);
      assert.ok(JSON.stringify(echoed).includes(sub), `the upstream's answer mentions the user (${sub})`);
      log(`GET /api/proxy/demo/hello → ${answer.status}: ${answer.body.replace(/\s+/g, ' ').slice(0, 160)}`);
      await snap(page, 'api-view');
      await check('API view');

      await page.reload({ waitUntil: 'domcontentloaded' });
      assert.match((await apiViewAnswer(page)).status, /^200\b/, 'a reload keeps the session and the view');
      await check('reload');

      await signOut(page);
      await snap(page, 'signed-out-after-sign-out');
      await check('signed out again');
      const me = await page.evaluate(async () => (await fetch('/api/me', { headers: { 'X-CSRF': '1' } })).status);
      assert.equal(me, 401, 'the server-side session is gone');

      // Back through history: the app must never show the profile again.
      let appStops = 0;
      for (let i = 0; i < 4; i++) {
        const response = await page.goBack({ waitUntil: 'domcontentloaded' }).catch(() => null);
        if (response === null && page.url() === 'about:blank') break;
        if (!onApp(page.url())) continue;
        appStops++;
        assert.equal(await appSignOut(page).isVisible(), false, `back (${page.url()}) shows a signed-in page`);
        await expectSignedOutView(page);
        assert.equal(
          await page.getByRole('heading', { level: 1, name: ALICE.name }).count(),
          0,
          `back (${page.url()}) shows the profile`,
        );
      }
      assert.ok(appStops > 0, 'going back reached a page of the app');
      log(`went back through ${appStops} app page(s): signed out every time`);
      await check('after the back button');
    },
  },

  {
    name: 'create account registers a new user and signs them in',
    async fn({ context, log }) {
      const check = leakChecker(context);
      const page = await context.newPage();
      await page.goto(`${origin}/`, { waitUntil: 'domcontentloaded' });
      await page.getByRole('link', { name: 'Create account' }).click();
      await waitForUrl(page, (url) => onIdp(url.href));
      await page.getByRole('heading', { name: 'Create your account' }).waitFor();
      const username = `tester_${Date.now().toString(36)}`;
      await page.getByLabel(/^Username/).fill(username);
      await page.getByLabel(/^Password/).fill('correct horse battery');
      await page.getByLabel(/^Name/).fill('Test Runner');
      await snap(page, 'idp-register');
      await page.getByRole('button', { name: 'Create account' }).click();
      await waitForUrl(page, (url) => onApp(url.href));
      await page.getByRole('heading', { level: 1, name: 'Test Runner' }).waitFor();
      assert.equal(await fact(page.getByRole('main'), 'Username'), username);
      log(`registered and signed in as ${username}`);
      await snap(page, 'profile-new-user');
      await check('registered', { expectTokens: true });
    },
  },

  {
    name: 'continue with Discord shows the Discord identity',
    contextOptions: { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true },
    async fn({ context, log }) {
      const check = leakChecker(context);
      const page = await context.newPage();
      await page.goto(`${origin}/`, { waitUntil: 'domcontentloaded' });
      await assertFitsWidth(page, 'signed-out view');
      await page.getByRole('link', { name: 'Continue with Discord' }).click();
      await waitForUrl(page, (url) => onIdp(url.href));
      await page.getByRole('heading', { name: /^Authorize / }).waitFor();
      await snap(page, 'idp-discord');
      await page.getByRole('button', { name: 'Authorize' }).click();
      await waitForUrl(page, (url) => onApp(url.href));
      const card = page.locator('section', { has: page.getByRole('heading', { name: 'Discord account' }) });
      await card.waitFor();
      assert.equal(await fact(card, 'Username'), NELLY.username);
      assert.equal(await fact(card, 'Display name'), NELLY.displayName);
      assert.equal(await fact(card, 'Discord ID'), NELLY.discordId);
      await assertFitsWidth(page, 'profile');
      log(`Discord identity: ${NELLY.username} / ${NELLY.displayName} / ${NELLY.discordId}`);
      await snap(page, 'profile-discord-phone');
      await check('signed in with Discord', { expectTokens: true });
    },
  },

  {
    name: 'a failed sign-in comes back as a readable, dismissable message',
    async fn({ context, log }) {
      const check = leakChecker(context);
      const page = await context.newPage();
      /** @type {string | null} */
      let state = null;
      page.on('request', (request) => {
        const url = new URL(request.url());
        if (url.origin === idpOrigin && url.pathname === '/oidc/auth') state = url.searchParams.get('state');
      });
      await page.goto(`${origin}/?keep=1`, { waitUntil: 'domcontentloaded' });
      await signInLink(page).click();
      await waitForUrl(page, (url) => onIdp(url.href));
      assert.ok(state, 'the BFF sent the browser to the authorization endpoint with a state');
      // What Logto does when the user refuses: back to the callback with an OAuth error.
      const callback = new URL('/auth/callback', origin);
      callback.search = new URLSearchParams({
        error: 'access_denied',
        error_description: 'The user cancelled.',
        state,
        iss: issuer,
      }).toString();
      await page.goto(callback.href, { waitUntil: 'domcontentloaded' });
      await waitForUrl(page, (url) => onApp(url.href));
      const alert = page.getByRole('alert').filter({ hasText: 'Sign-in was cancelled.' });
      await alert.waitFor();
      await page.waitForFunction(() => !window.location.search.includes('authError'));
      const href = await signInLink(page).getAttribute('href');
      assert.ok(href && !href.includes('authError'), `the sign-in link does not carry authError: ${href}`);
      await snap(page, 'auth-error');
      await page.getByRole('button', { name: 'Dismiss this message' }).click();
      await alert.waitFor({ state: 'detached' });
      log(`URL after clean-up: ${page.url()}`);
      await check('auth error');
    },
  },

  {
    name: 'a session ended elsewhere turns into the signed-out view on the next call',
    async fn({ context, log }) {
      const check = leakChecker(context);
      const page = await context.newPage();
      await page.goto(`${origin}/#/api`, { waitUntil: 'domcontentloaded' });
      await signInWithPassword(page, ALICE);
      // returnTo kept the hash route: back on the API view.
      assert.match((await apiViewAnswer(page)).status, /^200\b/);
      assert.equal(new URL(page.url()).hash, '#/api');

      const other = await context.newPage();
      await other.goto(`${origin}/`, { waitUntil: 'domcontentloaded' });
      await appSignOut(other).waitFor();
      await signOut(other);
      await other.close();

      await page.getByRole('button', { name: 'Send again' }).click();
      await expectSignedOutView(page);
      const href = await signInLink(page).getAttribute('href');
      assert.equal(href, `/auth/sign-in?returnTo=${encodeURIComponent('/#/api')}`);
      log('the API call answered 401 and the page switched to the signed-out view');

      // Signed in again in another tab: a focus re-check picks it up.
      const again = await context.newPage();
      await again.goto(`${origin}/`, { waitUntil: 'domcontentloaded' });
      await signInWithPassword(again, ALICE);
      await page.evaluate(() => window.dispatchEvent(new Event('focus')));
      await appSignOut(page).waitFor();
      log('a focus re-check noticed the new session');
      await check('session ended elsewhere');
    },
  },
];

/**
 * Fails if the page scrolls sideways (a phone-width layout bug).
 * @param {Page} page
 * @param {string} what
 */
async function assertFitsWidth(page, what) {
  await page.locator('#main').waitFor();
  const { scroll, client } = await page.evaluate(() => ({
    scroll: document.documentElement.scrollWidth,
    client: document.documentElement.clientWidth,
  }));
  assert.ok(scroll <= client, `${what} is ${scroll}px wide on a ${client}px screen`);
}

// -------------------------------------------------------------------- run

let exitCode = 1;
try {
  console.log('building ./backend/cmd/bff …');
  const binary = await buildBff(repoRoot, work);
  bff = await startBff({ binary, repoRoot, spaDir, logFile: join(resultsDir, 'bff.log') });
  ({ origin, idpOrigin, issuer } = bff);
  issuerForNode = issuer.replace('//localhost:', '//127.0.0.1:');
  console.log(`bff dev at ${origin}, identity provider at ${issuer}`);

  browser = await chromium.launch({
    executablePath: chromiumPath,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      // Offline and deterministic: every name but localhost fails to resolve
      // at once (e.g. the Discord CDN avatar falls back to initials).
      '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost',
    ],
  });
  const grep = process.env.E2E_GREP;
  const selected = grep ? tests.filter((test) => test.name.includes(grep)) : tests;
  const running = bff;
  const { passed, failed } = await runTests({ browser, tests: selected, resultsDir, onFailure: () => running.logTail() });
  console.log(`${passed} passed, ${failed} failed`);
  exitCode = failed === 0 && passed > 0 ? 0 : 1;
} catch (error) {
  console.error(error instanceof Error ? error.message : error);
  console.log('0 passed, 1 failed');
} finally {
  await cleanup();
}
process.exit(exitCode);
