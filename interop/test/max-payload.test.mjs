// Oversized messages (> maxPayload) close the offending session; the server stays healthy.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { TIMEOUT, connected, emitAck, marker, record, startServer } from './helpers.mjs';

const MAX = 10_000;
let server;
before(async () => {
  server = await startServer(['-max-payload', String(MAX)]);
});
after(() => server?.stop());

test('handshake advertises the configured maxPayload', TIMEOUT, async () => {
  const res = await fetch(`${server.url}/socket.io/?EIO=4&transport=polling`);
  assert.equal(res.status, 200);
  const body = await res.text();
  assert.ok(body.startsWith('0{'), body);
  assert.equal(JSON.parse(body.slice(1)).maxPayload, MAX);
});

for (const transport of ['websocket', 'polling']) {
  test(`oversized message over ${transport} closes the connection; server stays healthy`, TIMEOUT, async (t) => {
    const socket = await connected(t, server.url, { transports: [transport] });

    // Under the limit: fine.
    const small = 'a'.repeat(5_000);
    assert.deepEqual(await emitAck(socket, 'echo', small), [small]);

    // Over the limit: the session is closed and nothing is echoed.
    const events = record(socket);
    const outcome = new Promise((resolve, reject) => {
      socket.once('disconnect', (reason) => resolve(reason));
      socket.once('echo', () => reject(new Error('the server accepted and echoed a message larger than maxPayload')));
    });
    socket.emit('echo', 'x'.repeat(20_000));
    const reason = await outcome;
    assert.ok(['transport close', 'transport error'].includes(reason), `disconnect reason: ${reason}`);
    assert.equal(socket.connected, false);
    assert.deepEqual(events, [], 'the oversized message was not echoed');

    // The server is still fine for a fresh client.
    const fresh = await connected(t, server.url, { transports: [transport] });
    assert.deepEqual(await emitAck(fresh, 'echo', 'still healthy'), ['still healthy']);
    await marker(fresh);
  });
}
