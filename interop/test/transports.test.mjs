// Transports: websocket-only, polling-only and polling → websocket upgrade.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { TIMEOUT, TRICKY_JSON, client, collect, connected, emitAck, next, startServer, waitConnect } from './helpers.mjs';

let server;
before(async () => {
  server = await startServer();
});
after(() => server?.stop());

/** Capture the raw Engine.IO message packets the client receives. */
function rawMessages(socket) {
  const raw = [];
  socket.io.engine.on('packet', (p) => {
    if (p.type === 'message' && typeof p.data === 'string') raw.push(p.data);
  });
  return raw;
}

async function checkEchoRoundTrip(socket) {
  const raw = rawMessages(socket);
  const echoed = next(socket, 'echo');
  const ack = await emitAck(socket, 'echo', TRICKY_JSON, 'second', 7, null);
  assert.deepEqual(ack, [TRICKY_JSON, 'second', 7, null], 'ack carries the exact arguments');
  assert.deepEqual(await echoed, [TRICKY_JSON, 'second', 7, null], 'echo event carries the exact arguments');

  // The server must not HTML-escape: "<>&" appear literally in the encoded packets.
  const withHtml = raw.filter((s) => s.includes('script'));
  assert.equal(withHtml.length, 2, `expected echo + ack packets, got ${JSON.stringify(raw)}`);
  for (const s of withHtml) {
    assert.ok(s.includes('<script>a && b</script> \\"<>&\\"'), `packet should contain <, > and & unescaped: ${s.slice(0, 200)}`);
    assert.ok(!/\\u00(3c|3e|26)/i.test(s), `packet must not escape <, > or &: ${s.slice(0, 200)}`);
  }
}

test('websocket-only: connects over websocket and echoes exact JSON', TIMEOUT, async (t) => {
  const socket = await connected(t, server.url, { transports: ['websocket'] });
  assert.equal(socket.io.engine.transport.name, 'websocket');
  assert.equal(typeof socket.id, 'string');
  assert.ok(socket.id.length > 0);
  await checkEchoRoundTrip(socket);

  const [who] = await emitAck(socket, 'whoami');
  assert.equal(who.transport, 'websocket');
  assert.equal(who.id, socket.id);
});

test('polling-only: connects over long-polling and echoes exact JSON', TIMEOUT, async (t) => {
  const socket = await connected(t, server.url, { transports: ['polling'] });
  assert.equal(socket.io.engine.transport.name, 'polling');
  await checkEchoRoundTrip(socket);

  const [who] = await emitAck(socket, 'whoami');
  assert.equal(who.transport, 'polling');
  assert.equal(who.id, socket.id);
  assert.equal(socket.io.engine.transport.name, 'polling', 'polling-only client never upgrades');
});

test('polling-only: many quick emits all arrive, in order', TIMEOUT, async (t) => {
  const socket = await connected(t, server.url, { transports: ['polling'] });
  const N = 50;
  const got = collect(socket, 'echo', N);
  for (let i = 0; i < N; i++) socket.emit('echo', { i, s: `msg ${i} ✓` });
  const events = await got;
  assert.deepEqual(
    events.map(([d]) => d),
    Array.from({ length: N }, (_, i) => ({ i, s: `msg ${i} ✓` })),
  );
});

test('upgrade: polling upgrades to websocket without losing messages', TIMEOUT, async (t) => {
  const socket = client(t, server.url, { transports: ['polling', 'websocket'] });
  const engine = socket.io.engine;
  let firstTransport;
  engine.once('open', () => {
    firstTransport = engine.transport.name;
  });

  // Emit in three bursts around the upgrade: before the namespace is connected
  // (buffered by the client, flushed on connect), when the upgrade probe has
  // succeeded ('upgrading': polling is being paused), and right after 'connect'.
  // Whatever the timing, the server must echo everything once, in emission order.
  const sent = [];
  const burst = (label, n) => {
    for (let i = 0; i < n; i++) {
      const v = `${label}-${i}`;
      sent.push(v);
      socket.emit('echo', v);
    }
  };
  const TOTAL = 10 + 10 + 20;
  const got = collect(socket, 'echo', TOTAL);
  engine.once('upgrading', () => burst('upgrading', 10));
  const upgraded = next(engine, 'upgrade');

  burst('before-connect', 10);
  await waitConnect(socket);
  burst('after-connect', 20);

  const [transport] = await upgraded;
  assert.equal(firstTransport, 'polling', 'the session opens over polling');
  assert.equal(transport.name, 'websocket');
  assert.equal(socket.io.engine.transport.name, 'websocket');

  const events = await got;
  assert.equal(sent.length, TOTAL);
  assert.deepEqual(
    events.map(([d]) => d),
    sent,
    'every echo arrives exactly once, in emission order',
  );

  // Still works after the upgrade, and the server sees the websocket transport.
  assert.deepEqual(await emitAck(socket, 'echo', { after: 'upgrade' }), [{ after: 'upgrade' }]);
  const [who] = await emitAck(socket, 'whoami');
  assert.equal(who.transport, 'websocket');
  assert.equal(who.id, socket.id);
});
