// Acknowledgements in both directions, including the server-side ack timeout.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { TIMEOUT, TRICKY_JSON, connected, emitAck, next, startServer } from './helpers.mjs';

let server;
before(async () => {
  server = await startServer();
});
after(() => server?.stop());

for (const transport of ['websocket', 'polling']) {
  test(`client→server ack returns the exact arguments (${transport})`, TIMEOUT, async (t) => {
    const socket = await connected(t, server.url, { transports: [transport] });
    assert.deepEqual(await emitAck(socket, 'echo'), [], 'no args → empty ack');
    assert.deepEqual(await emitAck(socket, 'echo', 1, 'two', { three: [3] }, null, true), [1, 'two', { three: [3] }, null, true]);
    assert.deepEqual(await emitAck(socket, 'echo', TRICKY_JSON), [TRICKY_JSON]);

    // Several acks in flight at once are matched to the right callbacks.
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => emitAck(socket, 'echo', i, `s${i}`)));
    assert.deepEqual(results, Array.from({ length: 20 }, (_, i) => [i, `s${i}`]));

    // emitWithAck (promise API) resolves with the first argument.
    assert.deepEqual(await socket.emitWithAck('echo', { via: 'emitWithAck' }), { via: 'emitWithAck' });
  });

  test(`server→client ack: ask/question round trip (${transport})`, TIMEOUT, async (t) => {
    const socket = await connected(t, server.url, { transports: [transport] });
    const questions = [];
    socket.on('question', (payload, cb) => {
      questions.push(payload);
      assert.equal(typeof cb, 'function', 'server asked for an ack');
      cb('answer', 42);
    });
    const payload = { q: 'life, the universe & everything <?>', n: [1, 2] };
    assert.deepEqual(await emitAck(socket, 'ask', payload), ['answer', 42]);
    assert.deepEqual(questions, [payload]);

    // Object and multi-type answers pass through unchanged.
    socket.off('question');
    socket.on('question', (p, cb) => cb({ got: p }, null, [true]));
    assert.deepEqual(await emitAck(socket, 'ask', 'again'), [{ got: 'again' }, null, [true]]);
  });
}

test('server→client ack via emitWithAck-style promise answer (timeout API on client)', TIMEOUT, async (t) => {
  const socket = await connected(t, server.url, { transports: ['websocket'] });
  socket.on('question', async (payload, cb) => {
    await Promise.resolve();
    cb(`echo:${payload}`);
  });
  // The client-side timeout API also works against the server's ack.
  const [err, ...rest] = await new Promise((resolve) => {
    socket.timeout(5000).emit('ask', 'x', (...a) => resolve(a));
  });
  assert.equal(err, null);
  assert.deepEqual(rest, ['echo:x']);
});

test('server→client ack timeout: no question handler → ask acks {"error":"timeout"}', { timeout: 6000 }, async (t) => {
  const socket = await connected(t, server.url, { transports: ['websocket'] });
  const question = next(socket, 'question'); // never answered: the handler takes no callback
  const started = Date.now();
  const ack = await emitAck(socket, 'ask', 'anyone?');
  const elapsed = Date.now() - started;
  assert.deepEqual(ack, [{ error: 'timeout' }]);
  const [payload] = await question;
  assert.equal(payload, 'anyone?', 'the question was delivered');
  assert.ok(elapsed >= 4500, `server waited ~5 s before timing out (waited ${elapsed} ms)`);
});
