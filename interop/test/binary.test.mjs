// Binary payloads in both directions on websocket (binary frames) and polling
// (base64 "b" packets).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { TIMEOUT, connected, emitAck, next, startServer } from './helpers.mjs';

let server;
before(async () => {
  server = await startServer();
});
after(() => server?.stop());

/** Recursively assert that every Buffer in `expected` is a Buffer with identical bytes in `actual`. */
function assertSameBinary(actual, expected, path = 'args') {
  if (Buffer.isBuffer(expected)) {
    assert.ok(Buffer.isBuffer(actual), `${path} should be a Buffer, got ${Object.prototype.toString.call(actual)}`);
    assert.equal(actual.length, expected.length, `${path} length`);
    assert.ok(actual.equals(expected), `${path} bytes differ`);
    return;
  }
  if (Array.isArray(expected)) {
    assert.ok(Array.isArray(actual), `${path} should be an array`);
    assert.equal(actual.length, expected.length, `${path} length`);
    expected.forEach((v, i) => assertSameBinary(actual[i], v, `${path}[${i}]`));
    return;
  }
  if (expected && typeof expected === 'object') {
    assert.ok(actual && typeof actual === 'object', `${path} should be an object`);
    assert.deepEqual(Object.keys(actual).sort(), Object.keys(expected).sort(), `${path} keys`);
    for (const k of Object.keys(expected)) assertSameBinary(actual[k], expected[k], `${path}.${k}`);
    return;
  }
  assert.deepEqual(actual, expected, path);
}

const CASES = {
  'single Buffer': () => [Buffer.from([1, 2, 3])],
  'nested object containing Buffers': () => [
    {
      name: 'file.bin',
      meta: { bytes: Buffer.from([0, 255, 128, 10, 13]), list: [1, Buffer.from('hi ✓', 'utf8'), null] },
      size: 5,
    },
  ],
  'two Buffers': () => [Buffer.from([9, 8, 7]), Buffer.from([0xde, 0xad, 0xbe, 0xef])],
  'mixed JSON and Buffer arguments': () => ['before', Buffer.from([42]), { n: 1 }, Buffer.from([0, 0, 0]), 'after'],
  'empty Buffer': () => [Buffer.alloc(0)],
  'large Buffer (64 KiB random)': () => [randomBytes(64 * 1024)],
};

for (const transport of ['websocket', 'polling']) {
  for (const [name, make] of Object.entries(CASES)) {
    test(`binary echo over ${transport}: ${name}`, TIMEOUT, async (t) => {
      const socket = await connected(t, server.url, { transports: [transport] });
      const args = make();
      const echoed = next(socket, 'echo');
      const ack = await emitAck(socket, 'echo', ...args);
      assertSameBinary(await echoed, args, 'echo');
      assertSameBinary(ack, args, 'ack');
    });
  }

  test(`binary in server→client ack (${transport})`, TIMEOUT, async (t) => {
    const socket = await connected(t, server.url, { transports: [transport] });
    const payload = { blob: Buffer.from([5, 6, 7]) };
    const seen = [];
    socket.on('question', (p, cb) => {
      seen.push(p);
      cb(Buffer.from([1, 1, 2, 3, 5, 8]), { inner: Buffer.from('ok') });
    });
    const ack = await emitAck(socket, 'ask', payload);
    assertSameBinary(seen, [payload], 'question payload');
    assertSameBinary(ack, [Buffer.from([1, 1, 2, 3, 5, 8]), { inner: Buffer.from('ok') }], 'ask ack');
  });
}
