// Client auto-reconnection after the server process dies and comes back on the same port.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { TIMEOUT, client, emitAck, next, startServer, waitConnect } from './helpers.mjs';

let server;
before(async () => {
  server = await startServer();
});
after(() => server?.stop());

for (const transports of [['websocket'], ['polling']]) {
  test(`auto-reconnect after a server crash and restart (${transports[0]})`, TIMEOUT, async (t) => {
    const socket = client(t, server.url, {
      transports,
      reconnection: true,
      reconnectionDelay: 100,
      reconnectionDelayMax: 200,
    });
    await waitConnect(socket);
    const firstId = socket.id;
    assert.deepEqual(await emitAck(socket, 'echo', 'before'), ['before']);

    const disconnected = next(socket, 'disconnect');
    const reconnected = next(socket.io, 'reconnect');
    await server.kill(); // SIGKILL: no goodbye from the server
    const [reason] = await disconnected;
    assert.ok(['transport close', 'transport error'].includes(reason), `disconnect reason: ${reason}`);
    assert.equal(socket.active, true, 'the client keeps trying to reconnect');

    await server.restart(); // same port
    await reconnected;
    await waitConnect(socket);
    assert.equal(socket.connected, true);
    assert.ok(socket.id, 'new socket id');
    assert.notEqual(socket.id, firstId, 'a new session gets a new socket id');
    assert.deepEqual(await emitAck(socket, 'echo', 'after', { ok: true }), ['after', { ok: true }]);
    const [who] = await emitAck(socket, 'whoami');
    assert.equal(who.id, socket.id);
  });
}
