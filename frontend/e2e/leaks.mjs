// @ts-check
// Proves the browser never holds a token: collects every response body a
// context receives, and checks it, the pages' storage and document.cookie
// against the token values the dev identity provider really issued.
import { issuedTokens } from './bff.mjs';

/** @typedef {import('playwright-core').BrowserContext} BrowserContext */
/** @typedef {import('playwright-core').Page} Page */
/** @typedef {import('playwright-core').Response} Response */

const TEXTUAL = /^(text\/|application\/(json|javascript|xml|x-www-form-urlencoded)|image\/svg|[^;]*\+json|[^;]*\+xml)/i;

/** Records the text of every response the context's pages receive. */
export class ResponseLog {
  /** @param {BrowserContext} context */
  constructor(context) {
    /** @type {{url: string, status: number, text: string}[]} */
    this.bodies = [];
    /** @type {Promise<void>[]} */
    this.pending = [];
    context.on('response', (response) => this.pending.push(this.#record(response)));
  }

  /** @param {Response} response */
  async #record(response) {
    const status = response.status();
    const type = (await response.headerValue('content-type').catch(() => null)) ?? '';
    if (status >= 300 && status < 400) return; // redirects have no body to read
    if (type && !TEXTUAL.test(type)) return; // images, fonts
    try {
      const text = (await response.body()).toString('utf8');
      this.bodies.push({ url: response.url(), status, text });
    } catch {
      // The page navigated away before the body could be read; the next
      // step's checks still cover what the page kept.
    }
  }

  /** Waits for every body seen so far to be recorded. */
  async settle() {
    while (this.pending.length > 0) {
      const batch = this.pending.splice(0);
      await Promise.all(batch);
    }
  }
}

/**
 * What a page can read with JavaScript: both storages and document.cookie.
 * @param {Page} page
 */
async function pageState(page) {
  return page.evaluate(() => {
    /** @param {Storage} storage */
    const dump = (storage) => {
      const out = [];
      for (let i = 0; i < storage.length; i++) {
        const key = storage.key(i) ?? '';
        out.push(`${key}=${storage.getItem(key)}`);
      }
      return out.join('\n');
    };
    return { localStorage: dump(localStorage), sessionStorage: dump(sessionStorage), cookie: document.cookie };
  });
}

/**
 * Fails if any issued token appears in the pages' localStorage,
 * sessionStorage or document.cookie, or in any response body received so far.
 * @param {{context: BrowserContext, log: ResponseLog, issuer: string, step: string, expectTokens?: boolean}} options
 * @returns {Promise<{tokens: number, bodies: number}>} how much was checked
 */
export async function assertNoTokenLeak({ context, log, issuer, step, expectTokens = false }) {
  const tokens = await issuedTokens(issuer);
  if (expectTokens && tokens.length === 0) {
    throw new Error(`${step}: the identity provider reports no issued tokens, so the leak check could not fail`);
  }
  await log.settle();
  /** @type {string[]} */
  const leaks = [];
  /**
   * @param {string} where
   * @param {string} text
   */
  const scan = (where, text) => {
    for (const token of tokens) {
      if (text.includes(token)) leaks.push(`${where} contains an issued token (${token.length} chars)`);
    }
  };
  for (const page of context.pages()) {
    if (page.isClosed() || !/^https?:/.test(page.url())) continue;
    const state = await pageState(page);
    const where = new URL(page.url()).origin;
    scan(`localStorage of ${where}`, state.localStorage);
    scan(`sessionStorage of ${where}`, state.sessionStorage);
    scan(`document.cookie of ${where}`, state.cookie);
  }
  for (const body of log.bodies) scan(`response body of ${body.url} (${body.status})`, body.text);
  if (leaks.length > 0) throw new Error(`${step}: token leak:\n  ${leaks.join('\n  ')}`);
  return { tokens: tokens.length, bodies: log.bodies.length };
}
