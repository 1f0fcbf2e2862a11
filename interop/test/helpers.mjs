// Shared helpers for the Herald interop suite: start/stop/restart the Go test
// server (HERALD_INTEROP_BIN), a private redis-server for the cluster tests, the
// Express session app (../session/app.mjs), HS256 JWTs made with node:crypto, and
// small promise helpers around the official socket.io-client and ws clients.
// Everything waits on events, never on sleeps; the only timers are failure
// deadlines (and the retry delay while redis-server starts, which has no
// readiness event to wait on).
import { spawn } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join as joinPath } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { setTimeout as delay } from 'node:timers/promises';
import { io, Manager } from 'socket.io-client';
import WebSocket from 'ws';

export { io, Manager, WebSocket };

const START_DEADLINE_MS = 10_000;
const STOP_DEADLINE_MS = 5_000;

/** Per-test timeout used by every test in the suite. */
export const TIMEOUT = { timeout: 15_000 };

function binaryPath() {
  const bin = process.env.HERALD_INTEROP_BIN;
  if (!bin) {
    throw new Error(
      'HERALD_INTEROP_BIN is not set: point it at the built Herald interop test server ' +
        '(go build -o /tmp/herald-interop ./interop/server), e.g. ' +
        'HERALD_INTEROP_BIN=/tmp/herald-interop npm test',
    );
  }
  return bin;
}

/**
 * A running test server process. `url` is http://127.0.0.1:PORT (no trailing
 * slash); `wsUrl` is ws://127.0.0.1:PORT.
 */
export class TestServer {
  constructor(args) {
    this.args = args;
    this.port = 0;
    this.proc = null;
    this.stderr = '';
  }

  get url() {
    return `http://127.0.0.1:${this.port}`;
  }

  get wsUrl() {
    return `ws://127.0.0.1:${this.port}`;
  }

  /** Spawn the binary with `-addr 127.0.0.1:PORT` (PORT 0 the first time) and wait for "listening". */
  async spawn() {
    const bin = binaryPath();
    const proc = spawn(bin, ['-addr', `127.0.0.1:${this.port}`, ...this.args], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.proc = proc;
    this.stderr = '';
    proc.exited = new Promise((resolve) => proc.once('exit', (code, signal) => resolve({ code, signal })));
    proc.stderr.setEncoding('utf8');
    proc.stderr.on('data', (chunk) => {
      // keep the tail only, for error messages; always drain the pipe
      this.stderr = (this.stderr + chunk).slice(-8000);
      if (process.env.HERALD_INTEROP_VERBOSE) process.stderr.write(chunk);
    });
    const lines = createInterface({ input: proc.stdout });

    const ready = new Promise((resolve, reject) => {
      const deadline = setTimeout(
        () => reject(new Error(`server did not print "listening" within ${START_DEADLINE_MS} ms\nstderr:\n${this.stderr}`)),
        START_DEADLINE_MS,
      );
      lines.on('line', (line) => {
        if (process.env.HERALD_INTEROP_VERBOSE) process.stderr.write(`[server stdout] ${line}\n`);
        const m = /^listening\s+(\S+):(\d+)\s*$/.exec(line);
        if (m) {
          clearTimeout(deadline);
          resolve(Number(m[2]));
        }
      });
      proc.once('error', (err) => {
        clearTimeout(deadline);
        reject(new Error(`cannot start ${bin}: ${err.message}`));
      });
      proc.exited.then(({ code, signal }) => {
        clearTimeout(deadline);
        reject(new Error(`server exited before listening (code ${code}, signal ${signal})\nstderr:\n${this.stderr}`));
      });
    });
    try {
      const port = await ready;
      if (this.port !== 0 && port !== this.port) {
        throw new Error(`server restarted on port ${port}, expected ${this.port}`);
      }
      this.port = port;
    } catch (err) {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
      throw err;
    }
    return this;
  }

  get running() {
    return this.proc !== null && this.proc.exitCode === null && this.proc.signalCode === null;
  }

  /** Send `signal` and wait for the process to exit (SIGKILL after a deadline). */
  async stop(signal = 'SIGTERM') {
    const proc = this.proc;
    if (!proc) return;
    if (proc.exitCode === null && proc.signalCode === null) {
      proc.kill(signal);
      const deadline = setTimeout(() => proc.kill('SIGKILL'), STOP_DEADLINE_MS);
      await proc.exited;
      clearTimeout(deadline);
    } else {
      await proc.exited;
    }
  }

  /** SIGKILL the server and wait for it to be gone (simulates a crash). */
  kill() {
    return this.stop('SIGKILL');
  }

  /** Start again on the same port (after stop/kill). */
  async restart() {
    await this.stop();
    return this.spawn();
  }
}

/** Start a test server with extra flags, e.g. startServer(['-max-payload', '10000']). */
export async function startServer(args = []) {
  return new TestServer(args).spawn();
}

// ---------------------------------------------------------------------------
// Private redis-server (cluster tests)

const REDIS_START_DEADLINE_MS = 10_000;

/** A free loopback TCP port (free when returned; the caller binds it right away). */
export async function freePort() {
  const srv = net.createServer();
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const { port } = srv.address();
  await new Promise((resolve) => srv.close(resolve));
  return port;
}

/**
 * Send one command over a fresh TCP connection (RESP, no client library) and
 * resolve with the first line of the reply, e.g. "+PONG".
 */
export function redisCommand(port, ...args) {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host: '127.0.0.1', port });
    let buf = '';
    const done = (err, line) => {
      sock.destroy();
      if (err) reject(err);
      else resolve(line);
    };
    sock.setTimeout(2_000, () => done(new Error(`redis on port ${port}: no reply within 2 s`)));
    sock.setEncoding('utf8');
    sock.once('error', (err) => done(err));
    sock.once('connect', () => {
      sock.write(`*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`);
    });
    sock.on('data', (chunk) => {
      buf += chunk;
      const i = buf.indexOf('\r\n');
      if (i >= 0) done(null, buf.slice(0, i));
    });
    sock.once('end', () => done(new Error(`redis on port ${port} closed the connection without a reply`)));
  });
}

/**
 * A private redis-server on a free loopback port, persisting nothing (never the
 * shared 127.0.0.1:6379). `url` is redis://127.0.0.1:PORT.
 */
export class RedisServer {
  constructor() {
    this.port = 0;
    this.proc = null;
    this.dir = null;
    this.output = '';
  }

  get url() {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** Spawn redis-server and wait until it answers PING (retrying once on a port race). */
  async start() {
    this.dir = await mkdtemp(joinPath(tmpdir(), 'herald-interop-redis-'));
    for (let attempt = 1; ; attempt++) {
      try {
        await this.#spawnOnce(await freePort());
        return this;
      } catch (err) {
        await this.#kill();
        // another process may have taken the port between freePort() and bind
        if (attempt >= 3 || !err.exitedEarly) {
          await rm(this.dir, { recursive: true, force: true });
          throw err;
        }
      }
    }
  }

  async #spawnOnce(port) {
    this.port = port;
    this.output = '';
    const proc = spawn(
      'redis-server',
      ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', this.dir, '--loglevel', 'warning'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    this.proc = proc;
    let exit = null;
    proc.exited = new Promise((resolve) => {
      proc.once('exit', (code, signal) => resolve((exit = { code, signal })));
      proc.once('error', (error) => resolve((exit = { error })));
    });
    for (const stream of [proc.stdout, proc.stderr]) {
      stream.setEncoding('utf8');
      stream.on('data', (chunk) => {
        this.output = (this.output + chunk).slice(-8000);
        if (process.env.HERALD_INTEROP_VERBOSE) process.stderr.write(`[redis] ${chunk}`);
      });
    }
    const deadline = Date.now() + REDIS_START_DEADLINE_MS;
    for (;;) {
      if (exit) {
        if (exit.error?.code === 'ENOENT') {
          throw new Error('redis-server is not installed (apt-get install -y redis-server)');
        }
        const err = new Error(
          `redis-server exited before answering PING (${exit.error?.message ?? `code ${exit.code}, signal ${exit.signal}`})\n${this.output}`,
        );
        err.exitedEarly = !exit.error;
        throw err;
      }
      const reply = await redisCommand(port, 'PING').catch(() => null);
      if (reply === '+PONG' && !exit) return;
      if (Date.now() > deadline) {
        throw new Error(`redis-server on port ${port} did not answer PING within ${REDIS_START_DEADLINE_MS} ms\n${this.output}`);
      }
      await delay(20); // no readiness event to wait on: retry
    }
  }

  async #kill(signal = 'SIGKILL') {
    const proc = this.proc;
    if (!proc) return;
    if (proc.exitCode === null && proc.signalCode === null && proc.pid !== undefined) {
      proc.kill(signal);
      const deadline = setTimeout(() => proc.kill('SIGKILL'), STOP_DEADLINE_MS);
      await proc.exited;
      clearTimeout(deadline);
    } else {
      await proc.exited;
    }
  }

  /** Stop redis-server, wait for it to exit and remove its directory; safe to call twice. */
  async stop() {
    await this.#kill('SIGTERM');
    if (this.dir) await rm(this.dir, { recursive: true, force: true });
    this.dir = null;
  }
}

/** Start a private redis-server; stop it with `await redis.stop()`. */
export async function startRedis() {
  return new RedisServer().start();
}

// ---------------------------------------------------------------------------
// Socket.IO client helpers

/** Close a socket.io-client socket and its Manager/engine; safe to call twice. */
export function closeSocket(socket) {
  try {
    socket.io.reconnection(false);
    socket.disconnect();
  } finally {
    socket.io.engine?.close();
  }
}

/** Close every socket of a Manager and its engine. */
export function closeManager(manager) {
  manager.reconnection(false);
  for (const socket of Object.values(manager.nsps)) socket.disconnect();
  manager.engine?.close();
}

/**
 * Create a client with io(url, opts) (forceNew, no reconnection unless given)
 * and register its cleanup on the test context `t`.
 */
export function client(t, url, opts = {}) {
  const socket = io(url, { forceNew: true, reconnection: false, ...opts });
  t.after(() => closeSocket(socket));
  return socket;
}

/** Resolve on `connect`, reject on `connect_error` (with the server's message). */
export function waitConnect(socket) {
  if (socket.connected) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const onConnect = () => {
      socket.off('connect_error', onError);
      resolve();
    };
    const onError = (err) => {
      socket.off('connect', onConnect);
      reject(new Error(`connect_error: ${err.message}`, { cause: err }));
    };
    socket.once('connect', onConnect);
    socket.once('connect_error', onError);
  });
}

/** Resolve with the Error passed to the next `connect_error`; reject if it connects instead. */
export function waitConnectError(socket) {
  return new Promise((resolve, reject) => {
    const onConnect = () => {
      socket.off('connect_error', onError);
      reject(new Error('expected connect_error, but the socket connected'));
    };
    const onError = (err) => {
      socket.off('connect', onConnect);
      resolve(err);
    };
    socket.once('connect', onConnect);
    socket.once('connect_error', onError);
  });
}

/** Create a client and wait until it is connected. */
export async function connected(t, url, opts) {
  const socket = client(t, url, opts);
  await waitConnect(socket);
  return socket;
}

/** True for a socket.io-client Socket (namespace socket), false for a Manager or engine. */
function isNamespaceSocket(emitter) {
  return typeof emitter.nsp === 'string' && typeof emitter.emitWithAck === 'function';
}

/**
 * Wait until `register(resolve, reject)` settles, but reject early with a clear
 * message if the namespace socket disconnects first (instead of hanging until
 * the test timeout).
 */
function unlessDisconnected(socket, what, register) {
  return new Promise((resolve, reject) => {
    const onDisconnect = (reason) => reject(new Error(`socket disconnected (${reason}) while waiting for ${what}`));
    socket.once('disconnect', onDisconnect);
    const done = (fn) => (value) => {
      socket.off('disconnect', onDisconnect);
      fn(value);
    };
    register(done(resolve), done(reject));
  });
}

/**
 * Emit with an ack callback; resolves with ALL ack arguments as an array.
 * Rejects if the socket disconnects before the ack arrives.
 */
export function emitAck(socket, event, ...args) {
  return unlessDisconnected(socket, `the ack of "${event}"`, (resolve) => {
    socket.emit(event, ...args, (...ackArgs) => resolve(ackArgs));
  });
}

/**
 * Resolve with the argument array of the next `event` on `emitter` (a
 * namespace socket, a Manager or an engine). On a namespace socket, waiting
 * for anything but connect/disconnect events rejects if the socket disconnects;
 * on an engine, waiting for anything but 'close' rejects if it closes.
 */
export function next(emitter, event) {
  const wait = (resolve) => emitter.once(event, (...args) => resolve(args));
  if (isNamespaceSocket(emitter) && !['disconnect', 'connect', 'connect_error'].includes(event)) {
    return unlessDisconnected(emitter, `"${event}"`, wait);
  }
  if (emitter.transport && typeof emitter.transport.name === 'string' && event !== 'close') {
    return new Promise((resolve, reject) => {
      const onClose = (reason) => reject(new Error(`engine closed (${reason}) while waiting for "${event}"`));
      emitter.once('close', onClose);
      wait((args) => {
        emitter.off('close', onClose);
        resolve(args);
      });
    });
  }
  return new Promise(wait);
}

/** Resolve with the argument arrays of the next `n` occurrences of `event`, in order. */
export function collect(socket, event, n) {
  return unlessDisconnected(socket, `${n} × "${event}"`, (resolve) => {
    const got = [];
    const handler = (...args) => {
      got.push(args);
      if (got.length === n) {
        socket.off(event, handler);
        resolve(got);
      }
    };
    socket.on(event, handler);
  });
}

/** Record every incoming event (via onAny) as [event, ...args]; returns the live array. */
export function record(socket) {
  const events = [];
  socket.onAny((event, ...args) => events.push([event, ...args]));
  return events;
}

/**
 * Marker round trip: emit `echo` with a unique marker on `socket` and wait for it
 * to come back. Anything the server queued for this socket earlier has arrived
 * by the time this resolves.
 */
export async function marker(socket, label = 'marker') {
  const value = `${label}-${Math.random().toString(36).slice(2)}`;
  await unlessDisconnected(socket, `the ${label} echo`, (resolve) => {
    const handler = (arg) => {
      if (arg === value) {
        socket.off('echo', handler);
        resolve();
      }
    };
    socket.on('echo', handler);
    socket.emit('echo', value);
  });
  return value;
}

// ---------------------------------------------------------------------------
// Plain WebSocket helpers

/**
 * Open a plain WebSocket (ws package), register cleanup on `t`, wait for open.
 * `opts` go to the ws constructor, e.g. {headers: {cookie: 'token=...'}}.
 */
export async function openWs(t, url, opts = {}) {
  const ws = new WebSocket(url, opts);
  t.after(() => ws.terminate());
  const queue = [];
  const waiters = [];
  let closedInfo = null;
  ws.on('message', (data, isBinary) => {
    const item = { data, isBinary };
    const w = waiters.shift();
    if (w) w.resolve(item);
    else queue.push(item);
  });
  ws.closed = new Promise((resolve) => {
    ws.once('close', (code, reason) => {
      closedInfo = { code, reason: reason.toString('utf8') };
      for (const w of waiters.splice(0)) {
        w.reject(new Error(`WebSocket closed (${code} ${closedInfo.reason}) while waiting for a message`));
      }
      resolve(closedInfo);
    });
  });
  /** Next message, parsed as JSON (rejects on binary frames or if the socket closes first). */
  ws.nextJson = async () => {
    let item;
    if (queue.length) item = queue.shift();
    else if (closedInfo) throw new Error(`WebSocket closed (${closedInfo.code} ${closedInfo.reason}) while waiting for a message`);
    else item = await new Promise((resolve, reject) => waiters.push({ resolve, reject }));
    if (item.isBinary) throw new Error('unexpected binary frame');
    return JSON.parse(item.data.toString('utf8'));
  };
  ws.sendJson = (value) => ws.send(JSON.stringify(value));
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
    ws.once('unexpected-response', (_req, res) => reject(new Error(`WebSocket upgrade refused: HTTP ${res.statusCode}`)));
  });
  return ws;
}

// ---------------------------------------------------------------------------
// Shared payloads

/** JSON value exercising nesting, unicode, HTML-sensitive characters, numbers and null. */
export const TRICKY_JSON = Object.freeze({
  text: 'plain ascii',
  html: '<script>a && b</script> "<>&"',
  unicode: 'héllo wörld — 日本語 — emoji 🎉👍🏽 — line\u2028sep\u2029para',
  escapes: 'quote " backslash \\ slash / newline \n tab \t nul \u0000 bell \u0007',
  numbers: [0, 1, -1, 42, 3.14159, -2.5e-7, 1e21, 9007199254740991, -9007199254740991, 1.7976931348623157e308],
  bools: [true, false],
  nothing: null,
  empty: { obj: {}, arr: [], str: '' },
  nested: { a: { b: { c: { d: [1, [2, [3, { e: 'deep' }]]] } } } },
  'key with spaces & <ünïcode>': 'value',
});

// ---------------------------------------------------------------------------
// JWTs (HS256 with node:crypto, no dependency)

const b64url = (value) => Buffer.from(JSON.stringify(value)).toString('base64url');

/**
 * A compact JWS of `claims` signed with HMAC-SHA256 under `secret`. `header` may be
 * replaced (e.g. {alg: 'none'}, which gets an empty signature).
 */
export function signJwt(claims, secret, header = { alg: 'HS256', typ: 'JWT' }) {
  const input = `${b64url(header)}.${b64url(claims)}`;
  const sig = header.alg === 'none' ? '' : createHmac('sha256', secret).update(input).digest('base64url');
  return `${input}.${sig}`;
}

/**
 * An HS256 JWT for user `sub`: iat `now` (seconds, default the current time), exp
 * now + ttl (seconds, default 300; negative gives an expired token).
 */
export function mintJwt(secret, sub, { ttl = 300, now = Math.floor(Date.now() / 1000) } = {}) {
  return signJwt({ sub, iat: now, exp: now + ttl }, secret);
}

// ---------------------------------------------------------------------------
// The Express session app (../session/app.mjs: express-session + connect-redis)

const SESSION_DIR = fileURLToPath(new URL('../session/', import.meta.url));

/**
 * A running ../session/app.mjs. `url` is http://127.0.0.1:PORT. It is stopped by
 * closing its stdin (its own shutdown path), SIGKILL after a deadline.
 */
export class SessionApp {
  constructor(env) {
    this.env = env;
    this.port = 0;
    this.proc = null;
    this.output = '';
  }

  get url() {
    return `http://127.0.0.1:${this.port}`;
  }

  async start() {
    if (!existsSync(joinPath(SESSION_DIR, 'node_modules', 'express-session'))) {
      throw new Error(`the session app's packages are not installed: (cd ${SESSION_DIR} && npm ci)`);
    }
    const proc = spawn(process.execPath, ['app.mjs'], {
      cwd: SESSION_DIR,
      env: { ...process.env, PORT: '0', ...this.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    this.proc = proc;
    proc.exited = new Promise((resolve) => proc.once('exit', (code, signal) => resolve({ code, signal })));
    proc.stderr.setEncoding('utf8');
    proc.stderr.on('data', (chunk) => {
      this.output = (this.output + chunk).slice(-8000);
      if (process.env.HERALD_INTEROP_VERBOSE) process.stderr.write(`[session app] ${chunk}`);
    });
    const lines = createInterface({ input: proc.stdout });
    try {
      this.port = await new Promise((resolve, reject) => {
        const deadline = setTimeout(
          () => reject(new Error(`session app did not print "listening" within ${START_DEADLINE_MS} ms\n${this.output}`)),
          START_DEADLINE_MS,
        );
        lines.on('line', (line) => {
          if (process.env.HERALD_INTEROP_VERBOSE) process.stderr.write(`[session app stdout] ${line}\n`);
          const m = /^listening (\d+)$/.exec(line);
          if (m) {
            clearTimeout(deadline);
            resolve(Number(m[1]));
          }
        });
        proc.once('error', (err) => {
          clearTimeout(deadline);
          reject(new Error(`cannot start the session app: ${err.message}`));
        });
        proc.exited.then(({ code, signal }) => {
          clearTimeout(deadline);
          reject(new Error(`session app exited before listening (code ${code}, signal ${signal})\n${this.output}`));
        });
      });
    } catch (err) {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
      throw err;
    }
    return this;
  }

  /** Close its stdin (it then closes its server and Redis client) and wait for exit. */
  async stop() {
    const proc = this.proc;
    if (!proc) return;
    if (proc.exitCode === null && proc.signalCode === null) {
      proc.stdin.end();
      const deadline = setTimeout(() => proc.kill('SIGKILL'), STOP_DEADLINE_MS);
      await proc.exited;
      clearTimeout(deadline);
    } else {
      await proc.exited;
    }
  }

  /**
   * POST /login as `user` (stored as req.session.userId when `as` is "userId", else
   * passport's req.session.passport.user). Resolves with the Cookie header value to
   * send back, "connect.sid=s%3A<sid>.<signature>" (or the SESSION_COOKIE name).
   */
  async login(user, as = 'userId') {
    const res = await fetch(`${this.url}/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ user, as }),
    });
    if (!res.ok) throw new Error(`login: HTTP ${res.status}: ${await res.text()}`);
    const name = this.env.SESSION_COOKIE ?? 'connect.sid';
    const cookie = res.headers
      .getSetCookie()
      .map((c) => c.split(';')[0])
      .find((c) => c.startsWith(`${name}=`));
    if (!cookie) throw new Error(`login: no ${name} in Set-Cookie: ${JSON.stringify(res.headers.getSetCookie())}`);
    return cookie;
  }

  /** GET /me with a Cookie header: {sid, user} as express-session reads it. */
  async me(cookie) {
    const res = await fetch(`${this.url}/me`, { headers: cookie ? { cookie } : {} });
    if (!res.ok) throw new Error(`me: HTTP ${res.status}`);
    return res.json();
  }

  /** POST /logout: the session is destroyed in Redis; the cookie stays valid-looking. */
  async logout(cookie) {
    const res = await fetch(`${this.url}/logout`, { method: 'POST', headers: { cookie } });
    if (!res.ok) throw new Error(`logout: HTTP ${res.status}`);
  }
}

/**
 * Start ../session/app.mjs with `env` (REDIS_URL and SESSION_SECRET required; see the
 * top of app.mjs). Stop it with `await app.stop()`.
 */
export async function startSessionApp(env) {
  return new SessionApp(env).start();
}
