// @ts-check
// Builds and runs `bff dev` (the BFF with its offline identity provider) for
// the browser tests, on free loopback ports, and stops it afterwards.
import { spawn, execFile } from 'node:child_process';
import { createWriteStream, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** @returns {Promise<number>} a TCP port that was free on 127.0.0.1 a moment ago */
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/**
 * Compiles ./backend/cmd/bff into `outDir`.
 * @param {string} repoRoot
 * @param {string} outDir
 * @returns {Promise<string>} the binary's path
 */
export async function buildBff(repoRoot, outDir) {
  const binary = join(outDir, 'bff');
  try {
    await run('go', ['build', '-o', binary, './backend/cmd/bff'], {
      cwd: repoRoot,
      timeout: 10 * 60_000,
      maxBuffer: 16 * 1024 * 1024,
    });
  } catch (error) {
    const stderr = /** @type {{stderr?: string}} */ (error).stderr ?? '';
    throw new Error(`go build ./backend/cmd/bff failed:\n${stderr.trim()}`);
  }
  return binary;
}

/**
 * @typedef {object} RunningBff
 * @property {string} origin     the BFF's public URL (http://localhost:<port>)
 * @property {string} idpOrigin  the dev identity provider (http://localhost:<port>)
 * @property {string} issuer     `${idpOrigin}/oidc`
 * @property {() => string} logTail  the last lines the BFF printed
 * @property {() => Promise<void>} stop
 */

/**
 * Starts `<binary> dev` serving `spaDir`, waits for /readyz, and returns
 * how to reach and stop it. The process runs in its own process group so
 * stop() ends it and anything it started.
 * @param {{binary: string, repoRoot: string, spaDir: string, logFile: string}} options
 * @returns {Promise<RunningBff>}
 */
export async function startBff({ binary, repoRoot, spaDir, logFile }) {
  const port = await freePort();
  let idpPort = await freePort();
  while (idpPort === port) idpPort = await freePort();
  const origin = `http://localhost:${port}`;
  const idpOrigin = `http://localhost:${idpPort}`;

  const log = createWriteStream(logFile);
  const child = spawn(binary, ['dev'], {
    cwd: repoRoot,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      ...process.env,
      BFF_SPA_DIR: spaDir,
      BFF_LISTEN: `127.0.0.1:${port}`,
      BFF_PUBLIC_URL: origin,
      DEV_IDP_LISTEN: `127.0.0.1:${idpPort}`,
      // /metrics has its own listener; a free port, never the fixed default.
      BFF_METRICS_LISTEN: '127.0.0.1:0',
      BFF_DEV_EXPOSE_TOKENS: '1',
    },
  });
  child.stdout?.pipe(log, { end: false });
  child.stderr?.pipe(log, { end: false });
  /** @type {number | null} */
  let exitCode = null;
  const exited = new Promise((resolve) =>
    child.on('exit', (code, signal) => {
      exitCode = code ?? (signal ? 128 : 1);
      resolve(undefined);
    }),
  );

  const logTail = () => {
    try {
      return readFileSync(logFile, 'utf8').split('\n').slice(-40).join('\n');
    } catch {
      return '';
    }
  };

  const stop = async () => {
    if (exitCode === null && child.pid) {
      try {
        process.kill(-child.pid, 'SIGTERM');
      } catch {
        // already gone
      }
      const timer = setTimeout(() => {
        try {
          if (child.pid) process.kill(-child.pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }, 5000);
      await exited;
      clearTimeout(timer);
    }
    log.end();
  };

  const deadline = Date.now() + 60_000;
  for (;;) {
    if (exitCode !== null) {
      await stop();
      throw new Error(`bff dev exited with code ${exitCode} before it was ready:\n${logTail()}`);
    }
    try {
      const response = await fetch(`http://127.0.0.1:${port}/readyz`, { signal: AbortSignal.timeout(2000) });
      if (response.status === 200) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`bff dev was not ready within 60 s:\n${logTail()}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  return { origin, idpOrigin, issuer: `${idpOrigin}/oidc`, logTail, stop };
}

/**
 * Every access, refresh and ID token the dev identity provider has issued
 * (GET <issuer>/__dev/issued-tokens, served with BFF_DEV_EXPOSE_TOKENS=1).
 * Accepts a JSON list of strings, an object holding one, or null (Go's
 * encoding of an empty list: nothing issued yet).
 * @param {string} issuer
 * @returns {Promise<string[]>}
 */
export async function issuedTokens(issuer) {
  const response = await fetch(`${issuer}/__dev/issued-tokens`, { signal: AbortSignal.timeout(5000) });
  if (!response.ok) throw new Error(`GET ${issuer}/__dev/issued-tokens answered ${response.status}`);
  /** @type {unknown} */
  const body = await response.json();
  if (body === null) return [];
  /** @param {unknown} value */
  const strings = (value) => (Array.isArray(value) ? value.filter((v) => typeof v === 'string' && v.length > 0) : null);
  const list =
    strings(body) ??
    (typeof body === 'object' && body !== null
      ? Object.values(body).map(strings).find((found) => found !== null)
      : null);
  if (!list) throw new Error('issued-tokens answered JSON without a list of token strings');
  return list;
}
