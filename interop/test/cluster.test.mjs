// Cluster: two Herald nodes joined over a private redis-server (herald.Config.RedisURL,
// the @socket.io/redis-adapter wire format), real socket.io-client connections on
// both, mixed transports. Every broadcast is checked on both nodes, exactly once per
// target socket.
//
// How "nothing else arrived" is proven without sleeping. Herald keeps order per
// channel only (a broadcast to one room goes to key#/#room#, anything else to
// key#/#; each node publishes and handles a channel's messages in order, Redis keeps
// publish order), and a broadcast is acked once queued for publishing, not once
// published. So each check ends with flush(): marker broadcasts on every channel the
// check used (emit-all for key#/#, to-room for each room or socket id), sent from
// node 1, then node 2, then node 1 again, each round awaited on every recipient.
// Round 1 shows node 1's earlier publishes reached Redis and node 2; round 2 (sent
// after that) then reaches node 1 behind node 1's own earlier messages coming back
// from Redis, and node 2's earlier publishes; round 3 does the same for node 2. A
// duplicate or stray copy of anything sent before the flush therefore arrives before
// the flush completes, and the per-client counts are compared exactly. (Only the
// last round's own markers could still be duplicated unseen.)
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { TIMEOUT, connected, emitAck, startRedis, startServer } from './helpers.mjs';

/** Deadline for one batch of expected deliveries (the test timeout is 15 s). */
const DELIVERY_DEADLINE_MS = 5_000;

let redis;
const nodes = [];

before(async () => {
  redis = await startRedis();
  const args = ['-redis', redis.url];
  const started = await Promise.allSettled([startServer(args), startServer(args)]);
  for (const r of started) if (r.status === 'fulfilled') nodes.push(r.value);
  const failed = started.find((r) => r.status === 'rejected');
  if (failed) throw failed.reason;
});

after(async () => {
  await Promise.all(nodes.map((n) => n.stop()));
  await redis?.stop();
});

// name, node index, client options: websocket only, polling only, and the default
// (polling, then upgrade to websocket) on each node.
const CLIENTS = [
  ['a1', 0, { transports: ['websocket'] }],
  ['b1', 0, { transports: ['polling'] }],
  ['c1', 0, {}],
  ['a2', 1, { transports: ['polling'] }],
  ['b2', 1, { transports: ['websocket'] }],
  ['c2', 1, {}],
];

const keyOf = (event, args) => `${event} ${JSON.stringify(args)}`;

/**
 * Six clients over the two nodes, with a model of their rooms and of what each
 * must have received; every incoming event is counted per client.
 */
class Cluster {
  constructor(clients) {
    this.clients = clients;
    this.by = Object.fromEntries(clients.map((c) => [c.name, c]));
    this.markers = 0;
  }

  static async connect(t) {
    const clients = await Promise.all(
      CLIENTS.map(async ([name, node, opts]) => {
        const socket = await connected(t, nodes[node].url, opts);
        const c = { name, node, socket, rooms: new Set([socket.id]), got: new Map(), expected: new Map(), waiters: new Set() };
        socket.onAny((event, ...args) => {
          const k = keyOf(event, args);
          c.got.set(k, (c.got.get(k) ?? 0) + 1);
          for (const w of c.waiters) w();
        });
        return c;
      }),
    );
    // The CONNECT packet can reach the client before the node has subscribed to the
    // socket id's channel: `sync` (sent on each socket's own connection, so handled
    // after its connect) acks once the node's bus has applied the subscription.
    await Promise.all(clients.map(async (c) => assert.deepEqual(await emitAck(c.socket, 'sync'), [], `sync ${c.name}`)));
    return new Cluster(clients);
  }

  /** The client on node i (0 or 1) that sends markers from that node. */
  driver(i) {
    return i === 0 ? this.by.a1 : this.by.b2;
  }

  id(name) {
    return this.by[name].socket.id;
  }

  async join(name, ...rooms) {
    const c = this.by[name];
    for (const room of rooms) {
      // acked once the node's subscription to the room's channel is applied
      assert.deepEqual(await emitAck(c.socket, 'join', room), [room], `${name} joins ${room}`);
      c.rooms.add(room);
    }
  }

  async leave(name, room) {
    const c = this.by[name];
    assert.deepEqual(await emitAck(c.socket, 'leave', room), [room], `${name} leaves ${room}`);
    c.rooms.delete(room);
  }

  /** Names of the clients in any of rooms (all when none), minus those in any of except. */
  audience(rooms = [], except = []) {
    return this.clients
      .filter((c) => rooms.length === 0 || rooms.some((r) => c.rooms.has(r)))
      .filter((c) => !except.some((r) => c.rooms.has(r)))
      .map((c) => c.name);
  }

  /** `from` emits a test event and must get an empty ack; `names` must then receive `event`(payload). */
  async send(from, names, event, payload, request, ...args) {
    assert.deepEqual(await emitAck(this.by[from].socket, request, ...args), [], `ack of ${request} from ${from}`);
    for (const name of names) {
      const c = this.by[name];
      const k = keyOf(event, [payload]);
      c.expected.set(k, (c.expected.get(k) ?? 0) + 1);
    }
  }

  emitAll(from, payload) {
    return this.send(from, this.audience(), 'all-msg', payload, 'emit-all', payload);
  }

  toRoom(from, room, payload) {
    return this.send(from, this.audience([room]), 'room-msg', payload, 'to-room', room, payload);
  }

  toRooms(from, rooms, payload) {
    return this.send(from, this.audience(rooms), 'room-msg', payload, 'to-rooms', rooms, payload);
  }

  toExcept(from, room, except, payload) {
    return this.send(from, this.audience([room], [except]), 'room-msg', payload, 'to-except', room, except, payload);
  }

  toSocket(from, target, payload) {
    return this.send(from, [target], 'direct', payload, 'to-socket', this.id(target), payload);
  }

  /** Wait (bounded) until every client has received at least what the model expects. */
  async delivered(what) {
    const missing = () => {
      const out = [];
      for (const c of this.clients) {
        for (const [k, n] of c.expected) {
          const got = c.got.get(k) ?? 0;
          if (got < n) out.push(`${c.name} (node ${c.node + 1}): ${k} × ${got}/${n}`);
        }
      }
      return out;
    };
    if (missing().length === 0) return;
    let timer;
    const waiters = [];
    try {
      await new Promise((resolve, reject) => {
        timer = setTimeout(
          () => reject(new Error(`${what}: not delivered within ${DELIVERY_DEADLINE_MS} ms:\n  ${missing().join('\n  ')}`)),
          DELIVERY_DEADLINE_MS,
        );
        const check = () => {
          if (missing().length === 0) resolve();
        };
        for (const c of this.clients) {
          const onDisconnect = (reason) => reject(new Error(`${what}: ${c.name} disconnected (${reason})`));
          c.socket.once('disconnect', onDisconnect);
          c.waiters.add(check);
          waiters.push(() => {
            c.socket.off('disconnect', onDisconnect);
            c.waiters.delete(check);
          });
        }
      });
    } finally {
      clearTimeout(timer);
      for (const undo of waiters) undo();
    }
  }

  /**
   * Marker rounds from node 1, node 2, node 1 on the namespace channel and on each
   * room (or socket id) channel in `rooms`; see the comment at the top.
   */
  async flush(rooms = []) {
    for (const node of [0, 1, 0]) {
      const from = this.driver(node).name;
      const sends = [this.emitAll(from, { marker: ++this.markers, from })];
      for (const room of rooms) sends.push(this.toRoom(from, room, { marker: ++this.markers, from, room }));
      await Promise.all(sends);
      await this.delivered(`flush round from node ${node + 1}`);
    }
  }

  /** Every client received exactly what the model expects: no loss, no duplicate, nothing else. */
  assertExact(what) {
    const table = (field) =>
      Object.fromEntries(this.clients.map((c) => [c.name, Object.fromEntries([...c[field]].sort(([a], [b]) => (a < b ? -1 : 1)))]));
    assert.deepEqual(table('got'), table('expected'), `${what}: received events per client (actual) vs model (expected)`);
  }

  /** Spot check: the clients that received `event`(payload), and how many times each. */
  assertReceived(event, payload, want) {
    const k = keyOf(event, [payload]);
    const got = Object.fromEntries(this.clients.map((c) => [c.name, c.got.get(k) ?? 0]).filter(([, n]) => n > 0));
    assert.deepEqual(got, want, `who received ${k}, how many times`);
  }
}

test('cluster: a namespace broadcast from node 1 reaches every client on both nodes once', TIMEOUT, async (t) => {
  const cl = await Cluster.connect(t);
  const payload = { test: 'namespace', text: 'héllo 🎉', list: [1, null, { deep: true }] };
  await cl.emitAll('b1', payload);
  await cl.delivered('namespace broadcast');
  await cl.flush();
  cl.assertReceived('all-msg', payload, { a1: 1, b1: 1, c1: 1, a2: 1, b2: 1, c2: 1 });
  cl.assertExact('namespace broadcast from node 1');
});

test('cluster: a room broadcast from node 2 reaches exactly the members on both nodes', TIMEOUT, async (t) => {
  const cl = await Cluster.connect(t);
  await cl.join('a1', 'room');
  await cl.join('c1', 'room');
  await cl.join('a2', 'room');
  await cl.join('c2', 'room');

  // b2 (node 2) is not a member: members a1, c1 (node 1) and a2, c2 (node 2).
  const p1 = { test: 'room', n: 1 };
  await cl.toRoom('b2', 'room', p1);
  await cl.delivered('room broadcast');
  await cl.flush(['room']);
  cl.assertReceived('room-msg', p1, { a1: 1, c1: 1, a2: 1, c2: 1 });
  cl.assertExact('room broadcast from node 2');

  // From a member on node 2 too (the sender gets its copy locally, once).
  const p2 = { test: 'room', n: 2 };
  await cl.toRoom('c2', 'room', p2);
  await cl.delivered('room broadcast from a member');
  await cl.flush(['room']);
  cl.assertReceived('room-msg', p2, { a1: 1, c1: 1, a2: 1, c2: 1 });
  cl.assertExact('room broadcast from a member on node 2');

  // Node 2's last members leave (node 2 unsubscribes): a broadcast from node 1 now
  // stays on node 1, and node 2's former members get nothing.
  await cl.leave('a2', 'room');
  await cl.leave('c2', 'room');
  const p3 = { test: 'room', n: 3 };
  await cl.toRoom('b1', 'room', p3);
  await cl.delivered('room broadcast after leave');
  await cl.flush(['room']);
  cl.assertReceived('room-msg', p3, { a1: 1, c1: 1 });
  cl.assertExact('room broadcast after node 2 members left');
});

test('cluster: Except removes the except room members on both nodes', TIMEOUT, async (t) => {
  const cl = await Cluster.connect(t);
  for (const name of ['a1', 'b1', 'c1', 'a2', 'b2', 'c2']) await cl.join(name, 'team');
  await cl.join('b1', 'muted'); // node 1
  await cl.join('c2', 'muted'); // node 2

  const p1 = { test: 'except', from: 'node 2' };
  await cl.toExcept('b2', 'team', 'muted', p1);
  const p2 = { test: 'except', from: 'node 1' };
  await cl.toExcept('a1', 'team', 'muted', p2);
  await cl.delivered('except broadcasts');
  await cl.flush(['team']);
  cl.assertReceived('room-msg', p1, { a1: 1, c1: 1, a2: 1, b2: 1 });
  cl.assertReceived('room-msg', p2, { a1: 1, c1: 1, a2: 1, b2: 1 });
  cl.assertExact('To(team).Except(muted) from both nodes');
});

test('cluster: node 1 emits to a socket id on node 2 and on node 1; only that client gets it', TIMEOUT, async (t) => {
  const cl = await Cluster.connect(t);
  const remote = { test: 'socket-id', target: 'a2 on node 2' };
  await cl.toSocket('a1', 'a2', remote);
  const local = { test: 'socket-id', target: 'c1 on node 1' };
  await cl.toSocket('a1', 'c1', local);
  const self = { test: 'socket-id', target: 'a1 itself' };
  await cl.toSocket('a1', 'a1', self);
  await cl.delivered('socket-id emits');
  await cl.flush([cl.id('a2'), cl.id('c1'), cl.id('a1')]);
  cl.assertReceived('direct', remote, { a2: 1 });
  cl.assertReceived('direct', local, { c1: 1 });
  cl.assertReceived('direct', self, { a1: 1 });
  cl.assertExact('socket-id targeting from node 1');
});

test('cluster: To(r1, r2) reaches a client in both rooms once, on either node', TIMEOUT, async (t) => {
  const cl = await Cluster.connect(t);
  await cl.join('c2', 'r1', 'r2'); // node 2, both rooms
  await cl.join('b1', 'r1', 'r2'); // node 1, both rooms
  await cl.join('a2', 'r1');
  await cl.join('b2', 'r2');
  await cl.join('c1', 'r2');

  const p1 = { test: 'two rooms', from: 'node 1' };
  await cl.toRooms('a1', ['r1', 'r2'], p1);
  const p2 = { test: 'two rooms', from: 'node 2', rooms: 'r1, r2, r1 again' };
  await cl.toRooms('a2', ['r1', 'r2', 'r1'], p2);
  // A socket id next to a room it is in: still once.
  const p3 = { test: 'two rooms', from: 'node 1', rooms: 'r1 and c2 by id' };
  await cl.toRooms('a1', ['r1', cl.id('c2')], p3);
  await cl.delivered('multi-room broadcasts');
  await cl.flush(['r1', 'r2']);
  cl.assertReceived('room-msg', p1, { b1: 1, c1: 1, a2: 1, b2: 1, c2: 1 });
  cl.assertReceived('room-msg', p2, { b1: 1, c1: 1, a2: 1, b2: 1, c2: 1 });
  cl.assertReceived('room-msg', p3, { b1: 1, a2: 1, c2: 1 });
  cl.assertExact('To(r1, r2) across nodes');
});

test('cluster: a burst of mixed broadcasts from both nodes arrives exactly once per target', TIMEOUT, async (t) => {
  const cl = await Cluster.connect(t);
  await cl.join('a1', 'x');
  await cl.join('b1', 'x', 'y');
  await cl.join('a2', 'y');
  await cl.join('c2', 'x', 'y');
  await cl.join('b2', 'z');

  const sends = [];
  for (let i = 0; i < 20; i++) {
    const from = ['a1', 'b1', 'c1', 'a2', 'b2', 'c2'][i % 6];
    sends.push(
      cl.emitAll(from, { burst: i, kind: 'all' }),
      cl.toRoom(from, 'x', { burst: i, kind: 'x' }),
      cl.toRoom(from, 'y', { burst: i, kind: 'y' }),
      cl.toRooms(from, ['x', 'y'], { burst: i, kind: 'x+y' }),
      cl.toExcept(from, 'y', 'x', { burst: i, kind: 'y-x' }),
      cl.toSocket(from, i % 2 ? 'c2' : 'c1', { burst: i, kind: 'direct' }),
    );
  }
  await Promise.all(sends);
  await cl.delivered('burst');
  await cl.flush(['x', 'y', cl.id('c1'), cl.id('c2')]);
  cl.assertExact('burst of 120 broadcasts from both nodes');
});
