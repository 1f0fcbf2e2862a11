// Rooms: join/leave, broadcast to members only, shared with plain WebSocket clients.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { TIMEOUT, connected, emitAck, marker, next, openWs, record, startServer } from './helpers.mjs';

let server;
before(async () => {
  server = await startServer();
});
after(() => server?.stop());

test('rooms: only members receive room-msg; leave stops delivery', TIMEOUT, async (t) => {
  // Mix transports: members and non-members on both websocket and polling.
  const A = await connected(t, server.url, { transports: ['websocket'] });
  const B = await connected(t, server.url, { transports: ['polling'] });
  const C = await connected(t, server.url, { transports: ['websocket'] });
  const recA = record(A);
  const recB = record(B);
  const recC = record(C);

  assert.deepEqual(await emitAck(A, 'join', 'r1'), ['r1']);
  assert.deepEqual(await emitAck(B, 'join', 'r1'), ['r1']);

  // 1) A and B are members, C is not.
  const bGot = next(B, 'room-msg');
  assert.deepEqual(await emitAck(A, 'to-room', 'r1', { n: 1, text: 'hello r1' }), []);
  assert.deepEqual(await bGot, [{ n: 1, text: 'hello r1' }]);
  // The server emits room-msg before acking to-room, so A has it already.
  assert.deepEqual(recA, [['room-msg', { n: 1, text: 'hello r1' }]], 'sender (a member) gets room-msg exactly once');
  // C: the marker echo is queued after anything emitted to C by to-room.
  const mC = await marker(C);
  assert.deepEqual(recC, [['echo', mC]], 'non-member C must not receive room-msg');
  const mB = await marker(B);
  assert.deepEqual(recB, [['room-msg', { n: 1, text: 'hello r1' }], ['echo', mB]], 'B got room-msg exactly once');

  // 2) B leaves; only A receives the next message.
  recA.length = 0;
  recB.length = 0;
  recC.length = 0;
  assert.deepEqual(await emitAck(B, 'leave', 'r1'), ['r1']);
  assert.deepEqual(await emitAck(A, 'to-room', 'r1', 'second'), []);
  assert.deepEqual(recA, [['room-msg', 'second']]);
  const mB2 = await marker(B);
  const mC2 = await marker(C);
  assert.deepEqual(recB, [['echo', mB2]], 'B left r1 and must not receive room-msg');
  assert.deepEqual(recC, [['echo', mC2]], 'C must not receive room-msg');
});

test('rooms: broadcasting to a room the sender is not in, and to an empty room', TIMEOUT, async (t) => {
  const A = await connected(t, server.url, { transports: ['websocket'] });
  const B = await connected(t, server.url, { transports: ['websocket'] });
  const recA = record(A);
  assert.deepEqual(await emitAck(B, 'join', 'r2'), ['r2']);

  const bGot = next(B, 'room-msg');
  assert.deepEqual(await emitAck(A, 'to-room', 'r2', [1, { x: null }]), []);
  assert.deepEqual(await bGot, [[1, { x: null }]]);
  assert.deepEqual(await emitAck(A, 'to-room', 'nobody-here', 'void'), [], 'empty room still acks');
  const mA = await marker(A);
  assert.deepEqual(recA, [['echo', mA]], 'non-member sender gets nothing');
});

test('rooms: a plain WebSocket client on /ws shares namespace rooms', TIMEOUT, async (t) => {
  const A = await connected(t, server.url, { transports: ['websocket'] });
  const ws = await openWs(t, `${server.wsUrl}/ws`);

  ws.sendJson({ event: 'join', data: 'r1' });
  assert.deepEqual(await ws.nextJson(), { event: 'join', data: 'r1' });

  const payload = { from: 'socket.io', list: [1, 'two', null], html: '<&>' };
  assert.deepEqual(await emitAck(A, 'to-room', 'r1', payload), []);
  assert.deepEqual(await ws.nextJson(), { event: 'room-msg', data: payload });

  // A message to a room it did not join must not reach it: the echo reply
  // must be the very next frame.
  assert.deepEqual(await emitAck(A, 'to-room', 'other-room', 'not for ws'), []);
  ws.sendJson({ event: 'echo', data: 'ws-marker' });
  assert.deepEqual(await ws.nextJson(), { event: 'echo', data: 'ws-marker' });

  // Socket.IO members and plain-WS members receive the same broadcast.
  assert.deepEqual(await emitAck(A, 'join', 'r1'), ['r1']);
  const aGot = next(A, 'room-msg');
  assert.deepEqual(await emitAck(A, 'to-room', 'r1', 'both'), []);
  assert.deepEqual(await aGot, ['both']);
  assert.deepEqual(await ws.nextJson(), { event: 'room-msg', data: 'both' });
});
