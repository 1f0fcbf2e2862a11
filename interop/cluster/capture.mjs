// Node → Go: a socket.io 4.8 server with @socket.io/redis-adapter 8.3 and an
// @socket.io/redis-emitter 5.1 emitter publish broadcasts and requests, which the Go
// test captures from Redis and decodes with bus/redis.
//
// Phase A publishes without waiting for anyone, all on one Redis connection, so that
// Redis delivers them in this order; then "herald-test-done". Phase B makes requests
// that need answers: the Go test subscribes to the request channel (so the adapter
// counts it in NUMSUB), answers with bus/redis encodings, and this script prints what
// the adapter made of the answers.
import { Server } from "socket.io";
import { createAdapter } from "@socket.io/redis-adapter";
import { Emitter } from "@socket.io/redis-emitter";
import { connect, subscriptionsDone, out, plain, fail } from "./common.mjs";

const { pub, sub } = await connect();
const io = new Server();
io.adapter(createAdapter(pub, sub));
const admin = io.of("/admin");
const emitter = new Emitter(pub); // the same connection as the adapter's publishes: one order
await subscriptionsDone(sub);
out({ ready: true, uid: io.of("/").adapter.uid, adminUid: admin.adapter.uid });

// Phase A. Keep in step with nodeToGoExpectations in bus/redis/node_test.go.
io.emit("hello", "world");
io.to("room1").emit("to-room", 1, { a: true });
io.to(["room1", "room2"]).except("room3").volatile.emit("multi", Buffer.from([1, 2, 3]));
io.emit("nested", {
  a: [1, 2.5, -3, null, true, "x", { b: { c: [] } }],
  big: 2 ** 40,
  neg: -129,
  f: 1.5e-300,
  s: 'é\u2028<>&"\n',
});
// notepack.io writes integral numbers from 2^64 up as a wrapped uint64.
io.emit("wrapped", 1e21, 2 ** 64, 1.5e300);
io.emit("date", new Date(Date.UTC(2024, 0, 2, 3, 4, 5, 678)), new Date(0), new Date(-1));
io.emit("bin", { file: Buffer.from("hi"), list: [Buffer.alloc(0), Buffer.alloc(300, 7)], u8: new Uint8Array([5, 6]) });
io.compress(false).emit("nocompress");
admin.emit("admin-ev", "x");
io.except("sid1").emit("except-only");
emitter.emit("from-emitter", 42);
emitter.to("room1").emit("from-emitter-room", "r");
emitter.of("/admin").emit("from-emitter-admin");
emitter.to(["a", "b"]).except("c").volatile.compress(true).emit("em-multi", Buffer.from([9]));
emitter.in("room1").socketsJoin(["room7", "room8"]);
emitter.socketsLeave("room7");
emitter.in("room1").disconnectSockets(true);
emitter.serverSideEmit("ping-servers", "x", { n: 1 });
io.socketsJoin("room9");
io.in("room1").socketsLeave("room9");
io.in("room2").disconnectSockets();
io.serverSideEmit("hello-servers", 1);
await pub.publish("herald-test-done", "A");

// Phase B: the Go test answers each request.
const sockets = await io.fetchSockets();
out({
  fetchSockets: sockets.map((s) => ({ id: s.id, handshake: s.handshake, rooms: [...s.rooms], data: s.data })),
});
out({ allRooms: [...(await io.of("/").adapter.allRooms())].sort() });
out({ serverSideEmitWithAck: await io.serverSideEmitWithAck("ask-servers", "q") });
out({ emitWithAck: plain(await io.timeout(5000).emitWithAck("ask-clients", Buffer.from([7]))) });

// No io.close(): this server has no engine to close.
await Promise.all([pub.quit(), sub.quit()]);
out({ done: true });
process.exit(0);
