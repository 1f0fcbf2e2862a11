// The chat demo in a real browser: Debian's headless Chromium driven by playwright-core,
// against two nodes of the real herald binary (HERALD_BIN) joined over a private
// redis-server, with one HERALD_DEMO_SECRET so both accept the demo login's tokens.
//
// Page A is on node 1, pages B and C on node 2. A message typed in A shows in A and
// B; the join notices show; alice, signed in on A and B, gets a private notification
// sent from A's form on both pages, and the anonymous C does not. Screenshots go to
// HERALD_BROWSER_OUT (default: interop/browser/out/).
//
// No sleeps: every step waits for what the page shows (Playwright's auto-waiting
// locators, with a deadline). That C got no notification is shown by a later
// message: B sends it after the notification reached B, and C (same node as B)
// shows it; a notification for C would have been queued to C before it.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { join as joinPath } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { freePort, startRedis } from '../../test/helpers.mjs';

const CHROMIUM = process.env.HERALD_CHROMIUM ?? '/usr/bin/chromium';
const OUT = process.env.HERALD_BROWSER_OUT ?? fileURLToPath(new URL('../out/', import.meta.url));
const START_DEADLINE_MS = 10_000;
const STEP_MS = 10_000; // deadline of one step (a locator's wait)

function heraldBin() {
  const bin = process.env.HERALD_BIN;
  if (!bin) {
    throw new Error('HERALD_BIN is not set: go build -o bin/herald ./cmd/herald, then HERALD_BIN=$PWD/bin/herald npm --prefix interop/browser test');
  }
  return bin;
}

/** A herald process on a free port; ready once it logs "herald: listening". */
class Node {
  constructor(env) {
    this.env = env;
    this.output = '';
  }

  get url() {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Start on a free port, trying another if one was taken before herald bound it. */
  async start() {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.#spawn(await freePort());
      } catch (err) {
        await this.stop();
        if (attempt >= 3 || !/address already in use/.test(this.output)) throw err;
      }
    }
  }

  async #spawn(port) {
    this.port = port;
    this.output = '';
    const proc = spawn(heraldBin(), [], {
      env: { ...process.env, ...this.env, PORT: String(this.port), HERALD_HOST: '127.0.0.1' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    this.proc = proc;
    // 'close': exited, and its stderr read to the end (the reason it stopped included).
    proc.exited = new Promise((resolve) => proc.once('close', (code, signal) => resolve({ code, signal })));
    const lines = createInterface({ input: proc.stderr });
    await new Promise((resolve, reject) => {
      const deadline = setTimeout(() => reject(new Error(`herald did not listen within ${START_DEADLINE_MS} ms\n${this.output}`)), START_DEADLINE_MS);
      lines.on('line', (line) => {
        this.output = (this.output + line + '\n').slice(-8000);
        if (process.env.HERALD_INTEROP_VERBOSE) process.stderr.write(`[herald :${this.port}] ${line}\n`);
        if (line.includes('msg="herald: listening"')) {
          clearTimeout(deadline);
          resolve();
        }
      });
      proc.once('error', (err) => {
        clearTimeout(deadline);
        reject(new Error(`cannot start ${heraldBin()}: ${err.message}`));
      });
      proc.exited.then(({ code, signal }) => {
        clearTimeout(deadline);
        reject(new Error(`herald exited (code ${code}, signal ${signal})\n${this.output}`));
      });
    });
    return this;
  }

  async stop() {
    const proc = this.proc;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    proc.kill('SIGTERM');
    const deadline = setTimeout(() => proc.kill('SIGKILL'), 5_000);
    await proc.exited;
    clearTimeout(deadline);
  }
}

let redis;
let browser;
const nodes = [];

before(async () => {
  await mkdir(OUT, { recursive: true });
  redis = await startRedis();
  const env = {
    HERALD_REDIS_URL: redis.url,
    HERALD_DEMO_SECRET: randomBytes(32).toString('hex'), // the same on both nodes
  };
  for (let i = 0; i < 2; i++) nodes.push(await new Node(env).start());
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-quic', '--no-first-run', '--disable-component-update', '--disable-sync'],
  });
});

after(async () => {
  await browser?.close();
  await Promise.all(nodes.map((n) => n.stop()));
  await redis?.stop();
});

/** A page on node with a display name set before the page loads. */
async function open(node, name, viewport = { width: 1200, height: 760 }) {
  const context = await browser.newContext({ viewport });
  await context.addInitScript((n) => localStorage.setItem('herald-demo-name', JSON.stringify(n)), name);
  const page = await context.newPage();
  page.setDefaultTimeout(STEP_MS);
  const errors = [];
  page.on('pageerror', (err) => errors.push(err.message));
  page.on('console', (msg) => msg.type() === 'error' && errors.push(msg.text()));
  page.errors = errors;
  await page.goto(node.url);
  await page.locator('#conn[data-ready="true"]').waitFor();
  return page;
}

const lobby = (page) => page.locator('ol.messages[data-room=""]');
const message = (page, text) => lobby(page).locator('li.msg', { hasText: text });

async function signIn(page, user) {
  await page.fill('#login-user', user);
  await page.click('#login-form button[type="submit"]');
  await page.locator(`#identity[data-user="${user}"]`).waitFor(); // welcome: the node has alice's room on the bus
  await page.locator('#conn[data-ready="true"]').waitFor();
}

test('two nodes: messages, join notices, private notifications on every tab of a user only', { timeout: 60_000 }, async () => {
  const a = await open(nodes[0], 'anna');
  await message(a, 'anna join chat.').waitFor();
  const b = await open(nodes[1], 'bert');
  await message(b, 'bert join chat.').waitFor();
  await message(a, 'bert join chat.').waitFor(); // node 2's join notice on node 1

  // Connection state: connected, upgraded from polling to WebSocket.
  for (const page of [a, b]) {
    await page.locator('#conn[data-state="connected"][data-transport="websocket"]').waitFor();
    assert.match(await page.locator('#conn-text').textContent(), /^connected · websocket$/);
  }

  // A message typed in A appears in A and in B.
  await a.fill('#msg-text', 'hello from node 1');
  await a.press('#msg-text', 'Enter');
  for (const page of [a, b]) {
    const li = message(page, 'hello from node 1');
    await li.waitFor();
    assert.equal(await li.locator('.who').textContent(), 'anna');
  }

  // The counts are cluster-wide: both pages are in #general.
  for (const page of [a, b]) {
    await page.locator('li[data-room="general"] .count', { hasText: /^2$/ }).waitFor();
  }

  // alice on both pages (two nodes); C is anonymous, on B's node.
  await signIn(a, 'alice');
  await signIn(b, 'alice');
  const c = await open(nodes[1], 'carl');
  await message(b, 'carl join chat.').waitFor();

  await a.fill('#notify-to', 'alice');
  await a.fill('#notify-text', 'your order shipped');
  await a.click('#notify-form button[type="submit"]');
  await a.locator('#notify-status', { hasText: 'Sent to alice.' }).waitFor();
  for (const page of [a, b]) {
    const n = page.locator('#notif-list li', { hasText: 'your order shipped' });
    await n.waitFor();
    assert.equal(await n.locator('strong').textContent(), 'alice');
  }

  // C got nothing: a message sent from B after the notification reached B shows in C
  // with C's notification list still empty.
  await b.fill('#msg-text', 'marker after the notification');
  await b.press('#msg-text', 'Enter');
  await message(c, 'marker after the notification').waitFor();
  assert.equal(await c.locator('#notif-list li').count(), 0);
  assert.equal(await c.locator('#identity').getAttribute('data-user'), '');

  await a.screenshot({ path: joinPath(OUT, 'chat-node1-alice.png') });
  await b.screenshot({ path: joinPath(OUT, 'chat-node2-alice.png') });
  await c.screenshot({ path: joinPath(OUT, 'chat-node2-anonymous.png') });
  const phone = await open(nodes[0], 'pat', { width: 390, height: 844 });
  await message(phone, 'pat join chat.').waitFor();
  await phone.screenshot({ path: joinPath(OUT, 'chat-phone.png'), fullPage: true });

  for (const page of [a, b, c, phone]) assert.deepEqual(page.errors, [], `errors in the page at ${page.url()}`);
});
