// Identity (package auth) with the real clients: JWTs minted here with node:crypto
// (HS256) and Express session cookies from the real express-session + connect-redis
// app in ../session. Audience rooms are checked across two Herald nodes over a
// private Redis, on every kind of connection: Socket.IO over websocket, over polling,
// polling then upgrade, and plain WebSocket ({"event","data"} frames).
//
// Exactness works as in cluster.test.mjs (see the comment at its top): every event
// each client receives is counted, and after the expected deliveries have arrived a
// flush sends marker broadcasts, from node 1, node 2, node 1 again, on every channel
// the check used (the namespace channel through emit-all, and each audience room —
// user:<id>, authenticated, a socket id — through to-room). A stray or duplicate
// copy of anything sent before the flush arrives before the flush completes, so the
// per-client counts are then compared exactly, without sleeping. The audience
// broadcasts take the same channel as a to-room marker on their room: ToUsers(u) and
// ToOtherTabs (To(user:u).Except(own id)) use user:u's channel, ToAuthenticated the
// authenticated room's.
//
// Plain WebSocket clients cannot send several arguments, so they only send one-
// argument events (reply, to-other-tabs, emit-all, me, sync); their replies to those
// come back as {"event": name, "data": ...} frames. A reply awaited as a request's
// answer (sync, me, to-other-tabs, emit-all) is taken off the stream and not counted;
// the "reply" event's own answer is counted, since "exactly once" is what is checked.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  TIMEOUT,
  closeSocket,
  emitAck,
  io,
  mintJwt,
  signJwt,
  startRedis,
  startServer,
  startSessionApp,
  waitConnect,
  waitConnectError,
  WebSocket,
} from './helpers.mjs';

/** Deadline for one batch of expected deliveries (the test timeout is 15 s). */
const DELIVERY_DEADLINE_MS = 5_000;
/** The JWT secret the servers verify with (HS256 needs at least 32 bytes). */
const SECRET = 'herald-interop-jwt-secret-0123456789abcdef';
const OTHER_SECRET = 'not-the-herald-interop-secret-0123456789ab';
/** socket.io-parser's PacketType.ACK. */
const ACK = 3;

const keyOf = (event, args) => `${event} ${JSON.stringify(args)}`;
const userRoom = (user) => `user:${user}`;

// ---------------------------------------------------------------------------
// Clients: a Socket.IO socket or a plain WebSocket, counting what it receives

/** One connection whose every incoming event is counted under keyOf(event, args). */
class Party {
  constructor(name, node, user) {
    this.name = name;
    this.node = node;
    this.user = user; // expected identity, '' when anonymous
    this.id = null;
    this.got = new Map();
    this.expected = new Map();
    this.waiters = new Set();
  }

  count(event, args) {
    const k = keyOf(event, args);
    this.got.set(k, (this.got.get(k) ?? 0) + 1);
    for (const w of this.waiters) w();
  }

  expect(event, args) {
    const k = keyOf(event, args);
    this.expected.set(k, (this.expected.get(k) ?? 0) + 1);
  }

  /** The audience rooms Herald must have put this socket in (and its own id). */
  get rooms() {
    return new Set(this.user ? [this.id, userRoom(this.user), 'authenticated'] : [this.id]);
  }
}

/** A socket.io-client socket; also records the ACK packets it receives. */
class SioParty extends Party {
  constructor(name, node, user, socket) {
    super(name, node, user);
    this.socket = socket;
    this.kind = 'sio';
    this.acks = []; // data of every ACK packet, in arrival order
    socket.onAny((event, ...args) => this.count(event, args));
    socket.io.on('packet', (p) => {
      if (p.type === ACK && p.nsp === '/') this.acks.push(p.data);
    });
  }

  /** Emit with an ack; resolves with the ack's arguments. */
  request(event, ...args) {
    return emitAck(this.socket, event, ...args);
  }

  onDead(fn) {
    const h = (reason) => fn(`disconnected (${reason})`);
    this.socket.once('disconnect', h);
    return () => this.socket.off('disconnect', h);
  }
}

/** A plain WebSocket on /ws; frames are {"event", "data"}. */
class PlainParty extends Party {
  constructor(name, node, user, ws) {
    super(name, node, user);
    this.ws = ws;
    this.kind = 'plain';
    this.pending = []; // [{event, resolve}]: request answers, taken off the stream
    this.closed = null;
    ws.on('message', (data, isBinary) => {
      if (isBinary) return this.count('<binary frame>', []); // never expected: fails assertExact
      const msg = JSON.parse(data.toString('utf8'));
      const args = 'data' in msg ? [msg.data] : [];
      const i = this.pending.findIndex((p) => p.event === msg.event);
      if (i >= 0) this.pending.splice(i, 1)[0].resolve(args);
      else this.count(msg.event, args);
    });
    ws.once('close', (code, reason) => {
      this.closed = `closed (${code} ${reason})`;
      for (const p of this.pending.splice(0)) p.reject(new Error(`${name} ${this.closed} while waiting for "${p.event}"`));
    });
  }

  /** Send {event, data} and resolve with the reply frame's data as an argument list. */
  request(event, ...args) {
    assert.ok(args.length <= 1, 'a plain WebSocket frame carries one argument');
    if (this.closed) return Promise.reject(new Error(`${this.name} ${this.closed}`));
    return new Promise((resolve, reject) => {
      this.pending.push({ event, resolve, reject });
      this.send(event, ...args);
    });
  }

  /** Send {event, data} without waiting for anything. */
  send(event, ...args) {
    this.ws.send(JSON.stringify(args.length ? { event, data: args[0] } : { event }));
  }

  onDead(fn) {
    const h = (code, reason) => fn(`closed (${code} ${reason})`);
    this.ws.once('close', h);
    return () => this.ws.off('close', h);
  }
}

/** Connect a socket.io-client socket to `url` with `opts`; cleanup registered on t. */
async function sioParty(t, name, node, url, user, opts) {
  const socket = io(url, { forceNew: true, reconnection: false, ...opts });
  t.after(() => closeSocket(socket));
  const party = new SioParty(name, node, user, socket); // listeners before the connect
  await waitConnect(socket);
  party.id = socket.id;
  return party;
}

/** Open a plain WebSocket (ws package) with `opts` (e.g. headers); cleanup registered on t. */
async function plainParty(t, name, node, url, user, opts = {}) {
  const ws = new WebSocket(url, opts);
  t.after(() => ws.terminate());
  const party = new PlainParty(name, node, user, ws);
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
    ws.once('close', (code, reason) => reject(new Error(`${name}: closed (${code} ${reason}) before "me"`)));
  });
  return party;
}

/**
 * Parties on one or two nodes, with a model of what each must have received.
 * `drivers[i]` names the Socket.IO party that sends markers from node i.
 */
class Crowd {
  constructor(parties, drivers) {
    this.parties = parties;
    this.by = Object.fromEntries(parties.map((p) => [p.name, p]));
    this.drivers = drivers;
    this.markers = 0;
  }

  /**
   * Check every party's identity with `me` (which also gives a plain socket its
   * id), then `sync`: its node's bus has subscribed to the audience rooms the
   * middleware joined (and the socket id), so broadcasts from the other node reach it.
   */
  async ready() {
    await Promise.all(
      this.parties.map(async (p) => {
        const [me] = await p.request('me');
        assert.equal(typeof me?.id, 'string', `${p.name}: me.id`);
        if (p.kind === 'sio') assert.equal(me.id, p.socket.id, `${p.name}: me.id is the socket id`);
        assert.deepEqual(me, { id: me.id, user: p.user }, `${p.name}: me`);
        p.id = me.id;
        assert.deepEqual(await p.request('sync'), [], `${p.name}: sync`);
      }),
    );
    return this;
  }

  /** Names of the parties in room. */
  inRoom(room) {
    return this.parties.filter((p) => p.rooms.has(room)).map((p) => p.name);
  }

  /** `from` sends request(...args), must get an empty ack; then `names` must receive event(payload). */
  async send(from, names, event, payload, request, ...args) {
    assert.deepEqual(await this.by[from].request(request, ...args), [], `ack of ${request} from ${from}`);
    for (const name of names) this.by[name].expect(event, [payload]);
  }

  toUser(from, user, payload) {
    return this.send(from, this.inRoom(userRoom(user)), 'user-msg', payload, 'to-user', user, payload);
  }

  toAuthenticated(from, payload) {
    return this.send(from, this.inRoom('authenticated'), 'auth-msg', payload, 'to-authenticated', payload);
  }

  emitAll(from, payload) {
    return this.send(from, this.parties.map((p) => p.name), 'all-msg', payload, 'emit-all', payload);
  }

  toRoom(from, room, payload) {
    return this.send(from, this.inRoom(room), 'room-msg', payload, 'to-room', room, payload);
  }

  /** The other sockets of `from`'s user: nobody for an anonymous socket. */
  otherTabs(from) {
    const f = this.by[from];
    return f.user ? this.parties.filter((p) => p.user === f.user && p !== f).map((p) => p.name) : [];
  }

  toOtherTabs(from, payload) {
    return this.send(from, this.otherTabs(from), 'tab-msg', payload, 'to-other-tabs', payload);
  }

  /**
   * `from` sends "reply" with payload. A Socket.IO origin must get an ack [payload]
   * (unless noAck); a plain origin gets its reply as a {"event":"reply"} frame,
   * counted. Its user's other sockets must get a "reply" event.
   */
  async reply(from, payload, { noAck = false } = {}) {
    const f = this.by[from];
    if (f.kind === 'plain') {
      f.send('reply', payload);
      f.expect('reply', [payload]);
    } else if (noAck) {
      f.socket.emit('reply', payload);
    } else {
      assert.deepEqual(await f.request('reply', payload), [payload], `ack of reply from ${from}`);
    }
    for (const name of this.otherTabs(from)) this.by[name].expect('reply', [payload]);
  }

  /** Wait (bounded) until every party has received at least what the model expects. */
  async delivered(what) {
    const missing = () => {
      const out = [];
      for (const p of this.parties) {
        for (const [k, n] of p.expected) {
          const got = p.got.get(k) ?? 0;
          if (got < n) out.push(`${p.name} (node ${p.node + 1}): ${k} × ${got}/${n}`);
        }
      }
      return out;
    };
    if (missing().length === 0) return;
    let timer;
    const undo = [];
    try {
      await new Promise((resolve, reject) => {
        timer = setTimeout(
          () => reject(new Error(`${what}: not delivered within ${DELIVERY_DEADLINE_MS} ms:\n  ${missing().join('\n  ')}`)),
          DELIVERY_DEADLINE_MS,
        );
        const check = () => {
          if (missing().length === 0) resolve();
        };
        for (const p of this.parties) {
          undo.push(p.onDead((how) => reject(new Error(`${what}: ${p.name} ${how}`))));
          p.waiters.add(check);
          undo.push(() => p.waiters.delete(check));
        }
      });
    } finally {
      clearTimeout(timer);
      for (const u of undo) u();
    }
  }

  /**
   * Marker rounds (node 1, node 2, node 1; one round on a single node) on the
   * namespace channel and on each room channel in `rooms`; see the top of the file.
   */
  async flush(rooms = []) {
    const rounds = this.drivers.length > 1 ? [0, 1, 0] : [0];
    for (const node of rounds) {
      const from = this.drivers[node];
      const sends = [this.emitAll(from, { marker: ++this.markers, from })];
      for (const room of rooms) sends.push(this.toRoom(from, room, { marker: ++this.markers, from, room }));
      await Promise.all(sends);
      await this.delivered(`flush round from node ${node + 1}`);
    }
  }

  /** Every party received exactly what the model expects: no loss, no duplicate, nothing else. */
  assertExact(what) {
    const table = (field) =>
      Object.fromEntries(this.parties.map((p) => [p.name, Object.fromEntries([...p[field]].sort(([a], [b]) => (a < b ? -1 : 1)))]));
    assert.deepEqual(table('got'), table('expected'), `${what}: received events per client (actual) vs model (expected)`);
  }

  /** Spot check: the parties that received event(payload), and how many times each. */
  assertReceived(event, payload, want) {
    const k = keyOf(event, [payload]);
    const got = Object.fromEntries(this.parties.map((p) => [p.name, p.got.get(k) ?? 0]).filter(([, n]) => n > 0));
    assert.deepEqual(got, want, `who received ${k}, how many times`);
  }

  /** Spot check: the Socket.IO parties that received an ACK packet [payload], and how many. */
  assertAcked(payload, want) {
    const k = JSON.stringify([payload]);
    const got = Object.fromEntries(
      this.parties
        .filter((p) => p.kind === 'sio')
        .map((p) => [p.name, p.acks.filter((d) => JSON.stringify(d) === k).length])
        .filter(([, n]) => n > 0),
    );
    assert.deepEqual(got, want, `who received an ACK packet ${k}, how many times`);
  }
}

// ---------------------------------------------------------------------------
// 1, 2. Audiences and reply propagation across two nodes (JWT)

describe('identity across two nodes (JWT)', () => {
  let redis;
  const nodes = [];
  let seq = 0;

  before(async () => {
    redis = await startRedis();
    const args = ['-redis', redis.url, '-jwt-secret', SECRET];
    const started = await Promise.allSettled([startServer(args), startServer(args)]);
    for (const r of started) if (r.status === 'fulfilled') nodes.push(r.value);
    const failed = started.find((r) => r.status === 'rejected');
    if (failed) throw failed.reason;
  });

  after(async () => {
    await Promise.all(nodes.map((n) => n.stop()));
    await redis?.stop();
  });

  /**
   * User A: aWs (Socket.IO websocket, node 1), aPoll (Socket.IO polling, node 2),
   * aPlain (plain WebSocket /ws with Cookie token=, node 2). User B: b (Socket.IO,
   * polling then upgrade, node 1). anon1 (node 1, polling then upgrade) and anon2
   * (node 2, websocket): no token. Fresh user ids per test.
   */
  async function crowd(t) {
    const n = ++seq;
    const A = `alice-${n}`;
    const B = `bob-${n}`;
    const tokenA = mintJwt(SECRET, A);
    const tokenB = mintJwt(SECRET, B);
    const [n1, n2] = nodes;
    const parties = await Promise.all([
      sioParty(t, 'aWs', 0, n1.url, A, { auth: { token: tokenA }, transports: ['websocket'] }),
      sioParty(t, 'aPoll', 1, n2.url, A, { auth: { token: tokenA }, transports: ['polling'] }),
      plainParty(t, 'aPlain', 1, `${n2.wsUrl}/ws`, A, { headers: { cookie: `theme=dark; token=${tokenA}` } }),
      sioParty(t, 'b', 0, n1.url, B, { auth: { token: tokenB } }),
      sioParty(t, 'anon1', 0, n1.url, '', {}),
      sioParty(t, 'anon2', 1, n2.url, '', { transports: ['websocket'] }),
    ]);
    const c = await new Crowd(parties, ['b', 'anon2']).ready();
    return { c, A, B };
  }

  test('ToUsers: a user\'s 3 sockets on 2 nodes and 3 transports, once each; nobody else', TIMEOUT, async (t) => {
    const { c, A, B } = await crowd(t);
    const p1 = { test: 'to-user A', from: 'anon1 on node 1', text: 'héllo 🎉' };
    await c.toUser('anon1', A, p1);
    const p2 = { test: 'to-user A', from: 'aPoll on node 2, to its own user' };
    await c.toUser('aPoll', A, p2);
    const p3 = { test: 'to-user B', from: 'anon2 on node 2' };
    await c.toUser('anon2', B, p3);
    await c.delivered('to-user');
    await c.flush([userRoom(A), userRoom(B)]);
    c.assertReceived('user-msg', p1, { aWs: 1, aPoll: 1, aPlain: 1 });
    c.assertReceived('user-msg', p2, { aWs: 1, aPoll: 1, aPlain: 1 });
    c.assertReceived('user-msg', p3, { b: 1 });
    c.assertExact('ToUsers from both nodes');
  });

  test('ToAuthenticated: A\'s 3 sockets and B\'s 1, once each; not the anonymous ones', TIMEOUT, async (t) => {
    const { c } = await crowd(t);
    const p1 = { test: 'to-authenticated', from: 'anon2 on node 2' };
    await c.toAuthenticated('anon2', p1);
    const p2 = { test: 'to-authenticated', from: 'aWs on node 1' };
    await c.toAuthenticated('aWs', p2);
    await c.delivered('to-authenticated');
    await c.flush(['authenticated']);
    c.assertReceived('auth-msg', p1, { aWs: 1, aPoll: 1, aPlain: 1, b: 1 });
    c.assertReceived('auth-msg', p2, { aWs: 1, aPoll: 1, aPlain: 1, b: 1 });
    c.assertExact('ToAuthenticated from both nodes');
  });

  test('emit-all: all 6 sockets, authenticated or not, once each', TIMEOUT, async (t) => {
    const { c } = await crowd(t);
    const p1 = { test: 'emit-all', from: 'aPlain on node 2 (plain WebSocket)' };
    await c.emitAll('aPlain', p1);
    const p2 = { test: 'emit-all', from: 'b on node 1' };
    await c.emitAll('b', p2);
    await c.delivered('emit-all');
    await c.flush();
    const all = { aWs: 1, aPoll: 1, aPlain: 1, b: 1, anon1: 1, anon2: 1 };
    c.assertReceived('all-msg', p1, all);
    c.assertReceived('all-msg', p2, all);
    c.assertExact('emit-all from both nodes');
  });

  test('ToOtherTabs: A\'s other 2 sockets only; a lone user\'s and an anonymous socket\'s reach nobody', TIMEOUT, async (t) => {
    const { c, A, B } = await crowd(t);
    const p1 = { test: 'other tabs', from: 'aWs (websocket, node 1)' };
    await c.toOtherTabs('aWs', p1);
    const p2 = { test: 'other tabs', from: 'aPlain (plain WebSocket, node 2)' };
    await c.toOtherTabs('aPlain', p2);
    const p3 = { test: 'other tabs', from: 'b, B\'s only socket' };
    await c.toOtherTabs('b', p3);
    const p4 = { test: 'other tabs', from: 'anon1, anonymous' };
    await c.toOtherTabs('anon1', p4);
    await c.delivered('to-other-tabs');
    // anon1's (empty) audience is To(its id).Except(its id): its id's channel.
    await c.flush([userRoom(A), userRoom(B), c.by.anon1.id]);
    c.assertReceived('tab-msg', p1, { aPoll: 1, aPlain: 1 });
    c.assertReceived('tab-msg', p2, { aWs: 1, aPoll: 1 });
    c.assertReceived('tab-msg', p3, {});
    c.assertReceived('tab-msg', p4, {});
    c.assertExact('ToOtherTabs');
  });

  test('PropagateReplies: the origin gets its reply once, its user\'s other sockets a "reply" event', TIMEOUT, async (t) => {
    const { c, A, B } = await crowd(t);
    const p1 = { test: 'reply', from: 'aWs (websocket, node 1)', list: [1, null, 'ü'] };
    await c.reply('aWs', p1);
    const p2 = { test: 'reply', from: 'aPlain (plain WebSocket, node 2)' };
    await c.reply('aPlain', p2);
    const p3 = { test: 'reply', from: 'aPoll (polling, node 2)' };
    await c.reply('aPoll', p3);
    const p4 = { test: 'reply', from: 'b, B\'s only socket' };
    await c.reply('b', p4);
    const p5 = { test: 'reply', from: 'anon2, anonymous' };
    await c.reply('anon2', p5);
    // Without an ack callback the handler's reply is still mirrored to the other tabs
    // (socketio.Event.MirrorAck), and the origin gets nothing.
    const p6 = { test: 'reply', from: 'aWs without an ack callback' };
    await c.reply('aWs', p6, { noAck: true });
    await c.delivered('reply');
    await c.flush([userRoom(A), userRoom(B)]);
    c.assertReceived('reply', p1, { aPoll: 1, aPlain: 1 });
    c.assertReceived('reply', p2, { aWs: 1, aPoll: 1, aPlain: 1 }); // aPlain's is its own reply
    c.assertReceived('reply', p3, { aWs: 1, aPlain: 1 });
    c.assertReceived('reply', p4, {});
    c.assertReceived('reply', p5, {});
    c.assertReceived('reply', p6, { aPoll: 1, aPlain: 1 });
    c.assertAcked(p1, { aWs: 1 });
    c.assertAcked(p3, { aPoll: 1 });
    c.assertAcked(p4, { b: 1 });
    c.assertAcked(p5, { anon2: 1 });
    c.assertAcked(p6, {});
    c.assertExact('PropagateReplies');
  });
});

// ---------------------------------------------------------------------------
// 3. Refusals

/** A refused plain WebSocket: resolves with the close {code, reason}; rejects if a frame arrives. */
function plainRefused(t, url, opts = {}) {
  const ws = new WebSocket(url, opts);
  t.after(() => ws.terminate());
  return new Promise((resolve, reject) => {
    ws.once('message', (data) => reject(new Error(`expected a refusal, got a frame: ${data}`)));
    ws.once('error', reject);
    ws.once('close', (code, reason) => resolve({ code, reason: reason.toString('utf8') }));
  });
}

/** A Socket.IO client that must be refused: resolves with the connect_error Error. */
async function sioRefused(t, url, opts) {
  const socket = io(url, { forceNew: true, reconnection: false, ...opts });
  t.after(() => closeSocket(socket));
  return waitConnectError(socket);
}

const now = () => Math.floor(Date.now() / 1000);

/** Tokens that must never identify anybody, by name. */
function badTokens() {
  const good = mintJwt(SECRET, 'mallory');
  const [h, p, s] = good.split('.');
  const forged = Buffer.from(JSON.stringify({ sub: 'admin', iat: now(), exp: now() + 300 })).toString('base64url');
  return {
    expired: mintJwt(SECRET, 'mallory', { now: now() - 3600, ttl: 60 }),
    'signed with another secret': mintJwt(OTHER_SECRET, 'mallory'),
    'one signature character changed': `${h}.${p}.${s[0] === 'A' ? 'B' : 'A'}${s.slice(1)}`,
    'payload changed, signature kept': `${h}.${forged}.${s}`,
    'alg none': signJwt({ sub: 'mallory', iat: now(), exp: now() + 300 }, '', { alg: 'none', typ: 'JWT' }),
    'no sub claim': signJwt({ iat: now(), exp: now() + 300 }, SECRET),
    'not a JWT': 'secret',
  };
}

const NO_CREDENTIALS = { reason: 'no credentials' };
const INVALID = { reason: 'invalid credentials' };
const PLAIN_REFUSAL = { code: 4403, reason: 'set JWT cookie to authenticate' };

describe('refusals (JWT)', () => {
  let strict; // -require-auth
  let lenient; // anonymous sockets admitted

  before(async () => {
    [strict, lenient] = await Promise.all([
      startServer(['-jwt-secret', SECRET, '-require-auth']),
      startServer(['-jwt-secret', SECRET]),
    ]);
  });

  after(async () => {
    await Promise.all([strict?.stop(), lenient?.stop()]);
  });

  test('-require-auth: a Socket.IO client without a token gets connect_error "unauthorized"', TIMEOUT, async (t) => {
    for (const transports of [['websocket'], ['polling']]) {
      const err = await sioRefused(t, strict.url, { transports });
      assert.equal(err.message, 'unauthorized', `${transports}`);
      assert.deepEqual(err.data, NO_CREDENTIALS, `${transports}`);
    }
  });

  test('a bad token is refused with "unauthorized", with or without -require-auth', TIMEOUT, async (t) => {
    for (const [what, token] of Object.entries(badTokens())) {
      for (const [server, label] of [
        [strict, '-require-auth'],
        [lenient, 'anonymous allowed'],
      ]) {
        const err = await sioRefused(t, server.url, { transports: ['websocket'], auth: { token } });
        assert.equal(err.message, 'unauthorized', `${what}, ${label}`);
        assert.deepEqual(err.data, INVALID, `${what}, ${label}`);
      }
    }
    // In the query string on polling, too.
    const err = await sioRefused(t, lenient.url, { transports: ['polling'], query: { token: badTokens().expired } });
    assert.equal(err.message, 'unauthorized');
    assert.deepEqual(err.data, INVALID);
  });

  test('a valid token identifies the socket from each source: auth, ?token=, Bearer, cookie', TIMEOUT, async (t) => {
    const cases = [
      ['auth {token}, websocket', { transports: ['websocket'], auth: { token: mintJwt(SECRET, 'u-auth') } }, 'u-auth'],
      ['?token=, polling', { transports: ['polling'], query: { token: mintJwt(SECRET, 'u-query') } }, 'u-query'],
      ['Authorization: Bearer, websocket', { transports: ['websocket'], extraHeaders: { authorization: `Bearer ${mintJwt(SECRET, 'u-bearer')}` } }, 'u-bearer'],
      ['Cookie token=, polling', { transports: ['polling'], extraHeaders: { cookie: `a=b; token=${mintJwt(SECRET, 'u-cookie')}` } }, 'u-cookie'],
      // The first credential in the documented order decides: auth before the query.
      ['auth and a bad ?token=', { auth: { token: mintJwt(SECRET, 'u-first') }, query: { token: 'bad' } }, 'u-first'],
    ];
    for (const [what, opts, user] of cases) {
      const socket = io(strict.url, { forceNew: true, reconnection: false, ...opts });
      t.after(() => closeSocket(socket));
      await waitConnect(socket);
      assert.deepEqual(await emitAck(socket, 'me'), [{ id: socket.id, user }], what);
    }
  });

  test('without -require-auth, a client without a token connects as anonymous', TIMEOUT, async (t) => {
    const socket = io(lenient.url, { forceNew: true, reconnection: false });
    t.after(() => closeSocket(socket));
    await waitConnect(socket);
    assert.deepEqual(await emitAck(socket, 'me'), [{ id: socket.id, user: '' }]);
  });

  test('plain WebSocket: no token under -require-auth, or a bad token, closes 4403', TIMEOUT, async (t) => {
    assert.deepEqual(await plainRefused(t, `${strict.wsUrl}/ws`), PLAIN_REFUSAL, 'no token, -require-auth, /ws');
    assert.deepEqual(await plainRefused(t, `${strict.wsUrl}/`), PLAIN_REFUSAL, 'no token, -require-auth, /');
    const bad = badTokens();
    for (const server of [strict, lenient]) {
      assert.deepEqual(await plainRefused(t, `${server.wsUrl}/ws?token=${bad.expired}`), PLAIN_REFUSAL, 'expired ?token=');
      assert.deepEqual(
        await plainRefused(t, `${server.wsUrl}/ws`, { headers: { cookie: `token=${bad['signed with another secret']}` } }),
        PLAIN_REFUSAL,
        'wrongly signed cookie',
      );
    }
  });

  test('plain WebSocket: a valid ?token=, cookie or Bearer identifies it; none is anonymous without -require-auth', TIMEOUT, async (t) => {
    const cases = [
      [strict, `/ws?token=${mintJwt(SECRET, 'p-query')}`, {}, 'p-query'],
      [strict, '/ws', { headers: { cookie: `token=${mintJwt(SECRET, 'p-cookie')}` } }, 'p-cookie'],
      [strict, '/', { headers: { authorization: `Bearer ${mintJwt(SECRET, 'p-bearer')}` } }, 'p-bearer'],
      [lenient, '/ws', {}, ''],
    ];
    for (const [server, path, opts, user] of cases) {
      const p = await plainParty(t, path, 0, `${server.wsUrl}${path}`, user, opts);
      const [me] = await p.request('me');
      assert.deepEqual(me, { id: me?.id, user }, path);
      assert.equal(typeof me.id, 'string');
    }
  });
});

// ---------------------------------------------------------------------------
// 4. A real Express app: express-session + connect-redis cookies

/** The cookie with one character of its signature (after the last ".") changed. */
function tamper(cookie) {
  const dot = cookie.lastIndexOf('.');
  const i = dot + 6;
  return `${cookie.slice(0, i)}${cookie[i] === 'A' ? 'B' : 'A'}${cookie.slice(i + 1)}`;
}

describe('identity from an Express session (express-session + connect-redis)', () => {
  let redis;
  let app;
  let strict; // -require-auth
  let lenient; // anonymous sockets admitted

  // The app signs with "sess-current"; Herald lists a newer secret first (a rotation
  // in progress), so it must verify with any secret of the list. The app stores the
  // user as req.session.userId: -session-user-path userId. A stale or forged session
  // cookie means "not authenticated", as in Express (auth.Authenticator.Identify):
  // refused as "no credentials" under -require-auth, anonymous without it.
  before(async () => {
    redis = await startRedis();
    const args = ['-redis', redis.url, '-session-secret', 'sess-next,sess-current', '-session-user-path', 'userId'];
    const started = await Promise.allSettled([
      startSessionApp({ REDIS_URL: redis.url, SESSION_SECRET: 'sess-current' }),
      startServer([...args, '-require-auth']),
      startServer(args),
    ]);
    [app, strict, lenient] = started.map((r) => (r.status === 'fulfilled' ? r.value : undefined));
    const failed = started.find((r) => r.status === 'rejected');
    if (failed) throw failed.reason;
  });

  after(async () => {
    await Promise.all([app?.stop(), strict?.stop(), lenient?.stop()]);
    await redis?.stop();
  });

  test('the login cookie identifies the user on websocket, polling and plain WebSocket; audiences reach exactly her sockets', TIMEOUT, async (t) => {
    const alice = await app.login('alice');
    const bob = await app.login(42); // a numeric id: Herald's user is "42", as String(42)
    assert.match(alice, /^connect\.sid=s%3A[^.]+\..+$/);
    assert.equal((await app.me(alice)).user, 'alice', 'Express itself reads the cookie');
    assert.equal((await app.me(bob)).user, '42');

    const parties = await Promise.all([
      sioParty(t, 'aliceWs', 0, strict.url, 'alice', { transports: ['websocket'], extraHeaders: { cookie: alice } }),
      sioParty(t, 'alicePoll', 0, strict.url, 'alice', { transports: ['polling'], extraHeaders: { cookie: alice } }),
      plainParty(t, 'alicePlain', 0, `${strict.wsUrl}/ws`, 'alice', { headers: { cookie: `other=1; ${alice}` } }),
      sioParty(t, 'bob', 0, strict.url, '42', { extraHeaders: { cookie: bob } }), // polling, then upgrade
    ]);
    const c = await new Crowd(parties, ['bob']).ready();

    const p1 = { test: 'session to-user alice', from: 'bob' };
    await c.toUser('bob', 'alice', p1);
    const p2 = { test: 'session to-user 42', from: 'alicePoll' };
    await c.toUser('alicePoll', '42', p2);
    const p3 = { test: 'session other tabs', from: 'aliceWs' };
    await c.toOtherTabs('aliceWs', p3);
    const p4 = { test: 'session to-authenticated', from: 'bob' };
    await c.toAuthenticated('bob', p4);
    const p5 = { test: 'session reply', from: 'alicePlain' };
    await c.reply('alicePlain', p5);
    await c.delivered('session audiences');
    await c.flush([userRoom('alice'), userRoom('42'), 'authenticated']);
    c.assertReceived('user-msg', p1, { aliceWs: 1, alicePoll: 1, alicePlain: 1 });
    c.assertReceived('user-msg', p2, { bob: 1 });
    c.assertReceived('tab-msg', p3, { alicePoll: 1, alicePlain: 1 });
    c.assertReceived('auth-msg', p4, { aliceWs: 1, alicePoll: 1, alicePlain: 1, bob: 1 });
    c.assertReceived('reply', p5, { aliceWs: 1, alicePoll: 1, alicePlain: 1 });
    c.assertExact('session audiences');
  });

  /**
   * `bad` must not identify anybody: refused under -require-auth (Socket.IO on both
   * transports: connect_error "unauthorized" {reason: "no credentials"}; plain: 4403),
   * anonymous on the lenient node, where a to-user for `user` reaches only the
   * socket with the good cookie.
   */
  async function assertNotIdentified(t, bad, good, user) {
    for (const transports of [['websocket'], ['polling']]) {
      const err = await sioRefused(t, strict.url, { transports, extraHeaders: { cookie: bad } });
      assert.equal(err.message, 'unauthorized', `${transports}`);
      assert.deepEqual(err.data, NO_CREDENTIALS, `${transports}`);
    }
    assert.deepEqual(await plainRefused(t, `${strict.wsUrl}/ws`, { headers: { cookie: bad } }), PLAIN_REFUSAL);

    const parties = [
      await sioParty(t, 'badWs', 0, lenient.url, '', { transports: ['websocket'], extraHeaders: { cookie: bad } }),
      await sioParty(t, 'badPoll', 0, lenient.url, '', { transports: ['polling'], extraHeaders: { cookie: bad } }),
      await plainParty(t, 'badPlain', 0, `${lenient.wsUrl}/ws`, '', { headers: { cookie: bad } }),
    ];
    if (good) parties.push(await sioParty(t, 'good', 0, lenient.url, user, { transports: ['websocket'], extraHeaders: { cookie: good } }));
    const c = await new Crowd(parties, ['badWs']).ready(); // me: user "" for the bad cookie
    const payload = { test: 'to-user after a bad cookie', user };
    await c.toUser('badPoll', user, payload);
    await c.delivered('to-user');
    await c.flush([userRoom(user)]);
    c.assertReceived('user-msg', payload, good ? { good: 1 } : {});
    c.assertExact('a bad session cookie joins no audience');
  }

  test('the same cookie with one signature character changed does not identify (Express: no session either)', TIMEOUT, async (t) => {
    const cookie = await app.login('carol');
    const bad = tamper(cookie);
    assert.notEqual(bad, cookie);
    assert.equal((await app.me(cookie)).user, 'carol');
    assert.equal((await app.me(bad)).user, null, 'Express does not accept the tampered cookie');
    await assertNotIdentified(t, bad, cookie, 'carol');
    // The untouched cookie still works under -require-auth.
    const ok = await sioParty(t, 'carol', 0, strict.url, 'carol', { transports: ['polling'], extraHeaders: { cookie } });
    assert.deepEqual(await ok.request('me'), [{ id: ok.id, user: 'carol' }]);
  });

  test('after logout the cookie no longer identifies; no cookie is refused under -require-auth', TIMEOUT, async (t) => {
    const cookie = await app.login('dave');
    const live = await sioParty(t, 'dave', 0, strict.url, 'dave', { transports: ['websocket'], extraHeaders: { cookie } });
    assert.deepEqual(await live.request('me'), [{ id: live.id, user: 'dave' }]);
    await app.logout(cookie);
    assert.equal((await app.me(cookie)).user, null, 'Express: the session is gone');
    await assertNotIdentified(t, cookie, null, 'dave');
    const none = await sioRefused(t, strict.url, { transports: ['polling'] });
    assert.equal(none.message, 'unauthorized');
    assert.deepEqual(none.data, NO_CREDENTIALS);
    assert.deepEqual(await plainRefused(t, `${strict.wsUrl}/ws`), PLAIN_REFUSAL);
  });
});
