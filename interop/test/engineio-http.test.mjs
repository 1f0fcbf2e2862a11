// Raw Engine.IO HTTP behaviour via fetch: error responses and the polling handshake.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { TIMEOUT, startServer } from './helpers.mjs';

let server;
before(async () => {
  server = await startServer();
});
after(() => server?.stop());

async function expectError(path, init, code, message) {
  const res = await fetch(`${server.url}${path}`, init);
  const text = await res.text();
  assert.equal(res.status, 400, `${init?.method ?? 'GET'} ${path} → ${res.status} ${text}`);
  assert.match(res.headers.get('content-type') ?? '', /application\/json/, 'error bodies are JSON');
  assert.deepEqual(JSON.parse(text), { code, message });
}

test('EIO=3 is refused: 400 {"code":5,"message":"Unsupported protocol version"}', TIMEOUT, async () => {
  await expectError('/socket.io/?EIO=3&transport=polling', undefined, 5, 'Unsupported protocol version');
});

test('unknown transport: 400 {"code":0,"message":"Transport unknown"}', TIMEOUT, async () => {
  await expectError('/socket.io/?EIO=4&transport=bogus', undefined, 0, 'Transport unknown');
});

test('unknown sid: 400 {"code":1,"message":"Session ID unknown"}', TIMEOUT, async () => {
  await expectError('/socket.io/?EIO=4&transport=polling&sid=nope', undefined, 1, 'Session ID unknown');
  await expectError('/socket.io/?EIO=4&transport=polling&sid=nope', { method: 'POST', body: '40' }, 1, 'Session ID unknown');
});

test('POST handshake: 400 {"code":2,"message":"Bad handshake method"}', TIMEOUT, async () => {
  await expectError('/socket.io/?EIO=4&transport=polling', { method: 'POST', body: '40' }, 2, 'Bad handshake method');
});

test('polling handshake: 200 with the open packet', TIMEOUT, async () => {
  const res = await fetch(`${server.url}/socket.io/?EIO=4&transport=polling`);
  assert.equal(res.status, 200);
  const body = await res.text();
  assert.ok(body.startsWith('0{'), `body starts with "0{": ${body}`);
  const open = JSON.parse(body.slice(1));
  assert.equal(typeof open.sid, 'string');
  assert.equal(open.sid.length, 20, `sid ${open.sid} is 20 characters`);
  assert.deepEqual(open.upgrades, ['websocket']);
  assert.equal(open.pingInterval, 25000);
  assert.equal(open.pingTimeout, 20000);
  assert.equal(open.maxPayload, 1000000);

  // The session is real: it accepts a namespace CONNECT and answers on the next poll.
  const post = await fetch(`${server.url}/socket.io/?EIO=4&transport=polling&sid=${encodeURIComponent(open.sid)}`, {
    method: 'POST',
    headers: { 'content-type': 'text/plain;charset=UTF-8' },
    body: '40',
  });
  assert.equal(post.status, 200);
  assert.equal(await post.text(), 'ok');
  const poll = await fetch(`${server.url}/socket.io/?EIO=4&transport=polling&sid=${encodeURIComponent(open.sid)}`);
  assert.equal(poll.status, 200);
  const connectPacket = await poll.text();
  assert.ok(connectPacket.startsWith('40{'), `namespace CONNECT reply: ${connectPacket}`);
  assert.equal(typeof JSON.parse(connectPacket.slice(2)).sid, 'string');

  // Close the session cleanly (engine.io "1" close packet).
  const bye = await fetch(`${server.url}/socket.io/?EIO=4&transport=polling&sid=${encodeURIComponent(open.sid)}`, {
    method: 'POST',
    body: '1',
  });
  assert.equal(bye.status, 200);
  await bye.text();
});

test('two handshakes get distinct sids', TIMEOUT, async () => {
  const sids = [];
  for (let i = 0; i < 2; i++) {
    const res = await fetch(`${server.url}/socket.io/?EIO=4&transport=polling`);
    const body = await res.text();
    sids.push(JSON.parse(body.slice(1)).sid);
  }
  assert.notEqual(sids[0], sids[1]);
});
