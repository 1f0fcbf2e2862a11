// Plain WebSocket endpoint (ws package) on /ws and on /: JSON {event,data}
// frames and close codes for protocol violations.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { TIMEOUT, TRICKY_JSON, openWs, startServer } from './helpers.mjs';

let server;
before(async () => {
  server = await startServer();
});
after(() => server?.stop());

const VALUES = [
  TRICKY_JSON,
  'a string with <>& and ünïcödé 🎉',
  42,
  -3.5,
  0,
  null,
  true,
  false,
  [],
  {},
  [1, 'two', { three: [3] }, null],
];

for (const path of ['/ws', '/']) {
  test(`plain ws ${path}: echo round trips exact JSON values`, TIMEOUT, async (t) => {
    const ws = await openWs(t, `${server.wsUrl}${path}`);
    for (const data of VALUES) {
      ws.sendJson({ event: 'echo', data });
      assert.deepEqual(await ws.nextJson(), { event: 'echo', data });
    }
    // Pipelined: several frames in a row come back in order.
    for (let i = 0; i < 20; i++) ws.sendJson({ event: 'echo', data: i });
    for (let i = 0; i < 20; i++) assert.deepEqual(await ws.nextJson(), { event: 'echo', data: i });
  });

  test(`plain ws ${path}: join replies with the room`, TIMEOUT, async (t) => {
    const ws = await openWs(t, `${server.wsUrl}${path}`);
    ws.sendJson({ event: 'join', data: 'room1' });
    assert.deepEqual(await ws.nextJson(), { event: 'join', data: 'room1' });
  });

  const violations = [
    ['invalid JSON text frame', (ws) => ws.send('not json'), 1007],
    ['truncated JSON', (ws) => ws.send('{"event":"echo","data":'), 1007],
    ['JSON object without "event"', (ws) => ws.send('{"data":1}'), 1008],
    ['non-string "event"', (ws) => ws.send('{"event":5,"data":1}'), 1008],
    ['JSON array', (ws) => ws.send('["echo",1]'), 1008],
    ['JSON string', (ws) => ws.send('"echo"'), 1008],
    ['binary frame', (ws) => ws.send(Buffer.from([1, 2, 3]), { binary: true }), 1003],
  ];
  for (const [name, send, wantCode] of violations) {
    test(`plain ws ${path}: ${name} → close ${wantCode} with a reason`, TIMEOUT, async (t) => {
      const ws = await openWs(t, `${server.wsUrl}${path}`);
      // Prove the connection is healthy first.
      ws.sendJson({ event: 'echo', data: 'ok' });
      assert.deepEqual(await ws.nextJson(), { event: 'echo', data: 'ok' });
      send(ws);
      const { code, reason } = await ws.closed;
      assert.equal(code, wantCode, `close code (reason: ${JSON.stringify(reason)})`);
      assert.ok(reason.length > 0, 'close frame carries a non-empty reason');
    });
  }
}

test('plain ws: the server still serves new connections after protocol violations', TIMEOUT, async (t) => {
  const bad = await openWs(t, `${server.wsUrl}/ws`);
  bad.send('not json');
  assert.equal((await bad.closed).code, 1007);
  const good = await openWs(t, `${server.wsUrl}/ws`);
  good.sendJson({ event: 'echo', data: 'fine' });
  assert.deepEqual(await good.nextJson(), { event: 'echo', data: 'fine' });
});
