// Heartbeat: with a short ping interval the connection survives several ping cycles.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { TIMEOUT, connected, emitAck, startServer } from './helpers.mjs';

let server;
before(async () => {
  server = await startServer(['-ping-interval', '200ms', '-ping-timeout', '200ms']);
});
after(() => server?.stop());

test('handshake advertises the configured ping interval and timeout', TIMEOUT, async () => {
  const res = await fetch(`${server.url}/socket.io/?EIO=4&transport=polling`);
  assert.equal(res.status, 200);
  const body = await res.text();
  assert.ok(body.startsWith('0{'), body);
  const open = JSON.parse(body.slice(1));
  assert.equal(open.pingInterval, 200);
  assert.equal(open.pingTimeout, 200);
});

for (const transport of ['websocket', 'polling', 'upgrade']) {
  const transports = transport === 'upgrade' ? ['polling', 'websocket'] : [transport];
  test(`ping/pong keeps the connection alive for > 1 s (${transport})`, TIMEOUT, async (t) => {
    const socket = await connected(t, server.url, { transports });
    const disconnects = [];
    socket.on('disconnect', (reason) => disconnects.push(reason));
    const started = Date.now();
    // Wait for 6 pings (≈ 6 × 200 ms > 1 s): event-driven, not a sleep.
    const WANT = 6;
    let pings = 0;
    await new Promise((resolve, reject) => {
      socket.once('disconnect', (reason) => reject(new Error(`disconnected (${reason}) after ${pings} pings`)));
      socket.io.engine.on('ping', () => {
        pings++;
        if (pings === WANT) resolve();
      });
    });
    const elapsed = Date.now() - started;
    assert.ok(pings >= 2, 'saw at least 2 pings');
    assert.ok(elapsed > 1000, `stayed connected for ${elapsed} ms`);
    assert.deepEqual(disconnects, [], 'no disconnect during the ping cycles');
    assert.equal(socket.connected, true);
    assert.deepEqual(await emitAck(socket, 'echo', 'alive'), ['alive']);
  });
}
