// Server-initiated disconnects (Socket.IO DISCONNECT packet, optionally closing
// the whole Engine.IO connection).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  Manager,
  TIMEOUT,
  closeManager,
  connected,
  emitAck,
  marker,
  next,
  startServer,
  waitConnect,
} from './helpers.mjs';

let server;
before(async () => {
  server = await startServer();
});
after(() => server?.stop());

for (const transport of ['websocket', 'polling']) {
  for (const close of [false, true]) {
    test(`disconnect-me(${close}) over ${transport}: "io server disconnect", no reconnection`, TIMEOUT, async (t) => {
      // Reconnection is ON with a ~1 ms delay: if the client were going to
      // reconnect, it would have tried long before the marker below returns.
      const socket = await connected(t, server.url, {
        transports: [transport],
        reconnection: true,
        reconnectionDelay: 1,
        reconnectionDelayMax: 1,
        randomizationFactor: 0,
      });
      const firstId = socket.id;
      const manager = socket.io;
      const attempts = [];
      manager.on('reconnect_attempt', (n) => attempts.push(n));
      let connects = 0;
      socket.on('connect', () => connects++);

      const disconnected = next(socket, 'disconnect');
      socket.emit('disconnect-me', close);
      const [reason] = await disconnected;
      assert.equal(reason, 'io server disconnect');
      assert.equal(socket.connected, false);
      assert.equal(socket.active, false, 'the client does not plan to reconnect after a server disconnect');

      // Marker: a fresh client's full connect + echo round trip.
      const other = await connected(t, server.url, { transports: [transport] });
      await marker(other);
      assert.deepEqual(attempts, [], 'no reconnection attempt was made');
      assert.equal(connects, 0, 'the socket did not connect again');
      assert.equal(socket.id, undefined);
      assert.notEqual(other.id, firstId);
    });
  }
}

for (const transport of ['websocket', 'polling']) {
  test(`disconnect-me on "/" with close=false keeps the Engine.IO connection for /admin (${transport})`, TIMEOUT, async (t) => {
    const manager = new Manager(server.url, { transports: [transport], reconnection: false });
    t.after(() => closeManager(manager));
    const main = manager.socket('/');
    const admin = manager.socket('/admin', { auth: { token: 'secret' } });
    await Promise.all([waitConnect(main), waitConnect(admin)]);
    const engineId = manager.engine.id;
    const adminEvents = [];
    admin.on('disconnect', (r) => adminEvents.push(r));

    const disconnected = next(main, 'disconnect');
    main.emit('disconnect-me', false);
    const [reason] = await disconnected;
    assert.equal(reason, 'io server disconnect');

    // /admin is untouched and the same engine carries it.
    assert.deepEqual(await emitAck(admin, 'echo', 'admin alive'), ['admin alive']);
    assert.equal(admin.connected, true);
    assert.deepEqual(adminEvents, []);
    assert.equal(manager.engine.id, engineId);
    assert.equal(manager.engine.readyState, 'open');
  });

  test(`disconnect-me on "/" with close=true closes the Engine.IO connection, dropping /admin too (${transport})`, TIMEOUT, async (t) => {
    const manager = new Manager(server.url, { transports: [transport], reconnection: false });
    t.after(() => closeManager(manager));
    const main = manager.socket('/');
    const admin = manager.socket('/admin', { auth: { token: 'secret' } });
    await Promise.all([waitConnect(main), waitConnect(admin)]);

    const mainDown = next(main, 'disconnect');
    const adminDown = next(admin, 'disconnect');
    main.emit('disconnect-me', true);
    const [[mainReason], [adminReason]] = await Promise.all([mainDown, adminDown]);
    assert.equal(mainReason, 'io server disconnect');
    // Node's socket.io sends a DISCONNECT to every namespace before closing
    // ("io server disconnect"); a server that just closes the transport
    // yields "transport close". Both mean the whole connection went away.
    assert.ok(['io server disconnect', 'transport close'].includes(adminReason), `admin reason: ${adminReason}`);
    assert.equal(admin.connected, false);
  });
}
