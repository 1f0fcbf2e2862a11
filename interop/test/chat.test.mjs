// The chat demo's /chat namespace (apps/chat, interop server -demo) with the seed's
// exact client calls: io(`${url}/chat`), socket.on('msgToClient', ...),
// socket.emit('msgToServer', {name, text}). Two Herald nodes over a private Redis:
// every client of the namespace, on either node, gets every message and join notice.
// Bad input gets its error (ack or chatError) and is never broadcast; that nothing
// was broadcast is shown by the next message each client sees being a later one.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { TIMEOUT, client, emitAck, next, startRedis, startServer, waitConnect, waitConnectError } from './helpers.mjs';

let redis;
const nodes = [];

before(async () => {
  redis = await startRedis();
  const args = ['-redis', redis.url, '-demo'];
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
 * A seed client: io(url + '/chat'), listening to msgToClient. `inbox.next()` resolves
 * with the next msgToClient payload, in order; welcome marks the socket ready (in a
 * cluster: its node has subscribed what the socket listens to).
 */
async function seedClient(t, node, opts = {}) {
  const socket = client(t, `${node.url}/chat`, opts);
  const queue = [];
  const waiters = [];
  socket.on('msgToClient', (data) => {
    // Leave notices of the previous test's sockets, closed in its t.after, can arrive
    // at any point; the Go tests check leave notices (apps/chat TestRooms).
    if (data.name === 'admin' && / ?left chat\.$/.test(data.text)) return;
    const w = waiters.shift();
    if (w) w(data);
    else queue.push(data);
  });
  const welcome = next(socket, 'welcome');
  await waitConnect(socket);
  await welcome;
  socket.inbox = {
    next: () => (queue.length ? Promise.resolve(queue.shift()) : new Promise((resolve) => waiters.push(resolve))),
  };
  return socket;
}

test('seed clients on two nodes: join notices and msgToServer → msgToClient for everyone', TIMEOUT, async (t) => {
  const a = await seedClient(t, nodes[0]);
  assert.deepEqual(await a.inbox.next(), { name: 'admin', text: 'join chat.' });
  const b = await seedClient(t, nodes[1], { transports: ['polling'] });
  assert.deepEqual(await b.inbox.next(), { name: 'admin', text: 'join chat.' });
  assert.deepEqual(await a.inbox.next(), { name: 'admin', text: 'join chat.' }, 'the join on node 2 reached node 1');

  a.emit('msgToServer', { name: 'alice', text: 'hello from node 1' });
  assert.deepEqual(await a.inbox.next(), { name: 'alice', text: 'hello from node 1' });
  assert.deepEqual(await b.inbox.next(), { name: 'alice', text: 'hello from node 1' });
  b.emit('msgToServer', { name: 'bob', text: 'héllo 🎉 <b>back</b>' });
  assert.deepEqual(await a.inbox.next(), { name: 'bob', text: 'héllo 🎉 <b>back</b>' });
  assert.deepEqual(await b.inbox.next(), { name: 'bob', text: 'héllo 🎉 <b>back</b>' });

  // A name in the handshake is in the join notice.
  const c = await seedClient(t, nodes[1], { query: { username: 'carol' } });
  for (const s of [a, b, c]) assert.deepEqual(await s.inbox.next(), { name: 'admin', text: 'carol join chat.' });
});

test('bad msgToServer: an error ack or chatError, and no broadcast', TIMEOUT, async (t) => {
  const a = await seedClient(t, nodes[0]);
  const b = await seedClient(t, nodes[1]);
  await a.inbox.next(); // a's own join notice
  await a.inbox.next(); // b's
  await b.inbox.next(); // b's own
  const cases = [
    [[], 'payload: missing (want an object {name, text})'],
    [['just text'], 'payload: want an object {name, text}, got a string'],
    [[{ text: 'no name' }], 'name: missing'],
    [[{ name: 42, text: 'x' }], 'name: want a string, got a number'],
    [[{ name: 'a' }], 'text: missing'],
    [[{ name: 'a', text: ['x'] }], 'text: want a string, got an array'],
    [[{ name: 'a', text: '' }], 'text: empty'],
    [[{ name: 'a', text: 'x'.repeat(2001) }], 'text: longer than 2000 characters'],
    [[{ name: 'n'.repeat(65), text: 'x' }], 'name: longer than 64 characters'],
    [[{ name: 'a', text: 'x', room: 'nowhere' }], 'room: not joined "nowhere" (join it first)'],
  ];
  for (const [args, error] of cases) {
    assert.deepEqual(await emitAck(a, 'msgToServer', ...args), [{ error }], JSON.stringify(args).slice(0, 60));
    const refused = next(a, 'chatError');
    a.emit('msgToServer', ...args);
    assert.deepEqual(await refused, [{ event: 'msgToServer', error }]);
  }
  // 2000 characters (a 4-byte emoji is 1 character, 2 UTF-16 units) is within the limit.
  const long = '🎉'.repeat(2000);
  assert.deepEqual(await emitAck(a, 'msgToServer', { name: 'a', text: long }), [{ ok: true }]);
  a.emit('msgToServer', { name: 'a', text: 'after the bad ones' });
  for (const s of [a, b]) {
    assert.deepEqual(await s.inbox.next(), { name: 'a', text: long }, 'no bad input was broadcast');
    assert.deepEqual(await s.inbox.next(), { name: 'a', text: 'after the bad ones' });
  }
});

test('a bad username in the handshake is a connect_error naming it', TIMEOUT, async (t) => {
  const socket = client(t, `${nodes[0].url}/chat`, { query: { username: 'u'.repeat(65) } });
  const err = await waitConnectError(socket);
  assert.equal(err.message, 'username: longer than 64 characters');
});

test('rooms: members on both nodes, counts cluster-wide, room messages to members only', TIMEOUT, async (t) => {
  const a = await seedClient(t, nodes[0], { query: { username: 'ann' } });
  const b = await seedClient(t, nodes[1], { query: { username: 'ben' } });
  const outsider = await seedClient(t, nodes[1]);
  const counts = (s) => {
    const seen = [];
    s.on('roomCount', (c) => seen.push(c));
    return (count) =>
      new Promise((resolve) => {
        const check = () => seen.some((c) => c.room === 'general' && c.count === count) && resolve();
        check();
        s.on('roomCount', check);
      });
  };
  const aCount = counts(a);
  const bCount = counts(b);
  assert.deepEqual(await emitAck(a, 'join', { room: 'general' }), [{ room: 'general' }]);
  assert.deepEqual(await emitAck(b, 'join', { room: 'general' }), [{ room: 'general' }]);
  await Promise.all([aCount(2), bCount(2)]);
  // ben (node 2) writes to the room, then to everyone: ann (node 1) gets the room
  // message; the outsider, on ben's node (one sender, one node: in order), gets the
  // second message with no room message before it.
  b.emit('msgToServer', { name: 'ben', text: 'room only', room: 'general' });
  b.emit('msgToServer', { name: 'ben', text: 'everyone' });
  const upTo = async (s, text) => {
    const got = [];
    for (;;) {
      const m = await s.inbox.next();
      got.push(m);
      if (m.text === text) return got;
    }
  };
  const aGot = await upTo(a, 'room only');
  assert.deepEqual(aGot.at(-1), { name: 'ben', text: 'room only', room: 'general' });
  const outsiderGot = await upTo(outsider, 'everyone');
  assert.ok(!outsiderGot.some((m) => m.room), `the outsider got a room message: ${JSON.stringify(outsiderGot)}`);
  assert.deepEqual(await emitAck(b, 'leave', { room: 'general' }), [{ room: 'general' }]);
  await aCount(1);
});
