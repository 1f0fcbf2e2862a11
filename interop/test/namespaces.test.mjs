// Namespaces multiplexed on one Engine.IO connection, middleware refusal,
// unknown namespaces and handshake data (auth + query).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  Manager,
  TIMEOUT,
  client,
  closeManager,
  connected,
  emitAck,
  next,
  startServer,
  waitConnect,
  waitConnectError,
} from './helpers.mjs';

let server;
before(async () => {
  server = await startServer();
});
after(() => server?.stop());

for (const transports of [['websocket'], ['polling']]) {
  test(`two namespaces share one Engine.IO connection (${transports[0]})`, TIMEOUT, async (t) => {
    const manager = new Manager(server.url, { transports, reconnection: false });
    t.after(() => closeManager(manager));
    let opens = 0;
    manager.on('open', () => opens++);

    const main = manager.socket('/');
    await waitConnect(main);
    const engine = manager.engine;
    const engineId = engine.id;
    assert.equal(typeof engineId, 'string');
    assert.ok(engineId.length > 0);

    const admin = manager.socket('/admin', { auth: { token: 'secret' } });
    await waitConnect(admin);

    assert.equal(manager.engine, engine, 'no second engine was created');
    assert.equal(manager.engine.id, engineId, 'same Engine.IO session id');
    assert.equal(opens, 1, 'the manager opened exactly one Engine.IO connection');
    assert.equal(main.io, admin.io);
    assert.ok(main.id && admin.id);
    assert.notEqual(main.id, admin.id, 'each namespace socket has its own id');

    const [[whoMain], [whoAdmin]] = await Promise.all([emitAck(main, 'whoami'), emitAck(admin, 'whoami')]);
    assert.equal(whoMain.id, main.id);
    assert.equal(whoAdmin.id, admin.id);
    assert.deepEqual(whoAdmin.auth, { token: 'secret' });
    assert.deepEqual(whoMain.auth, {});

    // Events stay in their namespace: echo on /admin comes back on /admin only.
    const onMain = [];
    main.on('echo', (...a) => onMain.push(a));
    const adminEcho = next(admin, 'echo');
    admin.emit('echo', 'for admin');
    assert.deepEqual(await adminEcho, ['for admin']);
    assert.deepEqual(await emitAck(main, 'echo', 'for main'), ['for main']);
    assert.deepEqual(onMain, [['for main']], 'main namespace saw only its own echo');
  });
}

test('middleware refusal: /admin with a wrong or missing token gets connect_error "unauthorized" {code:401}', TIMEOUT, async (t) => {
  for (const auth of [{ token: 'wrong' }, undefined]) {
    const socket = client(t, `${server.url}/admin`, { transports: ['websocket'], ...(auth ? { auth } : {}) });
    const err = await waitConnectError(socket);
    assert.equal(err.message, 'unauthorized');
    assert.deepEqual(err.data, { code: 401 });
    assert.equal(socket.connected, false);
  }
});

test('middleware refusal does not break the connection for other namespaces', TIMEOUT, async (t) => {
  const manager = new Manager(server.url, { transports: ['polling'], reconnection: false });
  t.after(() => closeManager(manager));
  const main = manager.socket('/');
  await waitConnect(main);
  const admin = manager.socket('/admin', { auth: { token: 'nope' } });
  const err = await waitConnectError(admin);
  assert.equal(err.message, 'unauthorized');
  assert.deepEqual(err.data, { code: 401 });
  assert.equal(main.connected, true);
  assert.deepEqual(await emitAck(main, 'echo', 'still here'), ['still here']);
});

test('unknown namespace /nope gets connect_error "Invalid namespace"', TIMEOUT, async (t) => {
  for (const transports of [['websocket'], ['polling']]) {
    const socket = client(t, `${server.url}/nope`, { transports });
    const err = await waitConnectError(socket);
    assert.equal(err.message, 'Invalid namespace');
    assert.equal(socket.connected, false);
  }
});

test('handshake data: auth and query reach the server', TIMEOUT, async (t) => {
  const socket = await connected(t, `${server.url}?foo=bar&n=1`, { auth: { token: 'abc' } });
  const [who] = await emitAck(socket, 'whoami');
  assert.equal(who.id, socket.id);
  assert.deepEqual(who.auth, { token: 'abc' });
  assert.equal(typeof who.query, 'object');
  assert.equal(who.query.foo, 'bar');
  assert.equal(who.query.n, '1');
  assert.ok(['polling', 'websocket'].includes(who.transport), `transport ${who.transport}`);
});

test('handshake data: query option and no auth', TIMEOUT, async (t) => {
  const socket = await connected(t, server.url, { transports: ['websocket'], query: { room: 'lobby', 'x y': 'ü&=' } });
  const [who] = await emitAck(socket, 'whoami');
  assert.deepEqual(who.auth, {}, 'auth is {} when the client sends none');
  assert.equal(who.query.room, 'lobby');
  assert.equal(who.query['x y'], 'ü&=', 'query values are URL-decoded');
  assert.equal(who.transport, 'websocket');
});

test('handshake data: auth on /admin is the namespace-level auth', TIMEOUT, async (t) => {
  const socket = await connected(t, `${server.url}/admin?foo=baz`, { auth: { token: 'secret' } });
  const [who] = await emitAck(socket, 'whoami');
  assert.equal(who.id, socket.id);
  assert.deepEqual(who.auth, { token: 'secret' });
  assert.equal(who.query.foo, 'baz');
});
