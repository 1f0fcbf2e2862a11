// A Node.js member of a mixed cluster, driven by the Go test cluster
// TestMixedClusterWithNode: a socket.io 4.8 server with @socket.io/redis-adapter 8.3
// (classic pub/sub) on a free port, one socket.io-client connected to it (namespace
// "/"), and an @socket.io/redis-emitter 5.1 emitter, all on the Redis at $REDIS_URL.
//
// Protocol: one JSON object per line.
//   stdin:  commands {"id": n, "cmd": "...", ...params}; see commands below
//   stdout: {"ready": true, "port", "sid", "uid"} once the adapter is subscribed and the
//           client connected;
//           {"id": n, "result": ...} or {"id": n, "error": "...", "elapsed": ms} per command;
//           {"client": {"event", "args"}} for every event the client receives (its
//           "disconnect" included);
//           {"server": {"event", "args"}} for every server-side event ("ping", "notice")
//           another node sends with serverSideEmit.
// Binary values travel as {"$bin": "hex"} both ways. Closing stdin ends the script.
import { createServer } from "node:http";
import { createInterface } from "node:readline";
import { Server } from "socket.io";
import { io as connectClient } from "socket.io-client";
import { createAdapter } from "@socket.io/redis-adapter";
import { Emitter } from "@socket.io/redis-emitter";
import { connect, subscriptionsDone, out, plain, fail } from "./common.mjs";

/** unplain turns {"$bin": hex} back into Buffers. */
function unplain(v) {
  if (Array.isArray(v)) return v.map(unplain);
  if (v && typeof v === "object") {
    const keys = Object.keys(v);
    if (keys.length === 1 && keys[0] === "$bin" && typeof v.$bin === "string") return Buffer.from(v.$bin, "hex");
    return Object.fromEntries(keys.map((k) => [k, unplain(v[k])]));
  }
  return v;
}

const { pub, sub } = await connect();
const httpServer = createServer();
const io = new Server(httpServer);
io.adapter(createAdapter(pub, sub, { requestsTimeout: 3000 }));
const emitter = new Emitter(pub); // one connection: the emitter's publishes keep order with the adapter's

const serverSockets = new Map(); // id → server-side socket of this server
io.on("connection", (socket) => {
  serverSockets.set(socket.id, socket);
  socket.on("disconnect", () => serverSockets.delete(socket.id));
});

// Server-side events from other nodes and the emitter. "ping" acknowledges when asked.
for (const event of ["ping", "notice"]) {
  io.on(event, (...args) => {
    const ack = typeof args[args.length - 1] === "function" ? args.pop() : null;
    out({ server: { event, args: plain(args), ack: ack !== null } });
    if (ack) ack("pong-from-node");
  });
}

await new Promise((resolve) => httpServer.listen(0, "127.0.0.1", resolve));
const port = httpServer.address().port;

const client = connectClient(`http://127.0.0.1:${port}/`, {
  transports: ["websocket"],
  forceNew: true,
  reconnection: false,
});
client.onAny((event, ...args) => {
  const ack = typeof args[args.length - 1] === "function" ? args.pop() : null;
  out({ client: { event, args: plain(args), ack: ack !== null } });
  if (ack) ack("node-client");
});
client.on("disconnect", (reason) => out({ client: { event: "disconnect", args: [reason] } }));
await new Promise((resolve, reject) => {
  client.once("connect", resolve);
  client.once("connect_error", reject);
});
await subscriptionsDone(sub);

/** op applies rooms and except to a broadcast operator (of io or of the emitter). */
function op(base, { rooms, except }) {
  let o = base;
  if (rooms && rooms.length) o = o.to(rooms);
  if (except && except.length) o = o.except(except);
  return o;
}

/** flushed resolves once Redis has processed every command sent on pub so far. */
const flushed = () => pub.ping();

const commands = {
  // The client's server-side socket joins or leaves rooms.
  async join({ rooms }) {
    const s = serverSockets.get(client.id);
    if (!s) throw new Error("the client's socket is not connected");
    s.join(rooms);
    return [...s.rooms];
  },
  async rooms() {
    const s = serverSockets.get(client.id);
    return s ? [...s.rooms] : null;
  },
  async leave({ rooms }) {
    const s = serverSockets.get(client.id);
    if (!s) throw new Error("the client's socket is not connected");
    for (const r of rooms) s.leave(r);
    return [...s.rooms];
  },
  async emit(p) {
    op(io, p).emit(p.event, ...unplain(p.args || []));
    await flushed();
    return true;
  },
  async fetchSockets(p) {
    const sockets = await op(io, p).fetchSockets();
    return sockets.map((s) => ({ id: s.id, rooms: [...s.rooms], data: s.data ?? null, handshake: s.handshake }));
  },
  async allRooms() {
    return [...(await io.of("/").adapter.allRooms())].sort();
  },
  async serverSideEmit({ event, args }) {
    io.serverSideEmit(event, ...unplain(args || []));
    await flushed();
    return true;
  },
  async serverSideEmitWithAck({ event, args }) {
    return plain(await io.serverSideEmitWithAck(event, ...unplain(args || [])));
  },
  async emitWithAck(p) {
    return plain(await op(io, p).timeout(p.timeout ?? 2000).emitWithAck(p.event, ...unplain(p.args || [])));
  },
  async "emitter.emit"(p) {
    op(emitter, p).emit(p.event, ...unplain(p.args || []));
    await flushed();
    return true;
  },
  async "emitter.socketsJoin"(p) {
    op(emitter, p).socketsJoin(p.join);
    await flushed();
    return true;
  },
  async "emitter.socketsLeave"(p) {
    op(emitter, p).socketsLeave(p.leave);
    await flushed();
    return true;
  },
  async "emitter.disconnectSockets"(p) {
    op(emitter, p).disconnectSockets(!!p.close);
    await flushed();
    return true;
  },
  async "emitter.serverSideEmit"({ event, args }) {
    emitter.serverSideEmit(event, ...unplain(args || []));
    await flushed();
    return true;
  },
};

out({ ready: true, port, sid: client.id, uid: io.of("/").adapter.uid });

const pending = new Set();
const rl = createInterface({ input: process.stdin });
rl.on("line", (line) => {
  if (!line.trim()) return;
  let msg;
  try {
    msg = JSON.parse(line);
  } catch (err) {
    return out({ error: `bad command line ${JSON.stringify(line)}: ${err}` });
  }
  const { id, cmd } = msg;
  const fn = commands[cmd];
  const start = Date.now();
  const run = fn ? fn(msg) : Promise.reject(new Error(`unknown command ${cmd}`));
  const p = run.then(
    (result) => out({ id, result: result ?? null, elapsed: Date.now() - start }),
    (err) =>
      out({ id, error: String(err && err.message ? err.message : err), responses: plain(err?.responses ?? null), elapsed: Date.now() - start }),
  );
  pending.add(p);
  p.finally(() => pending.delete(p));
});
rl.on("close", async () => {
  try {
    await Promise.allSettled([...pending]);
    client.disconnect();
    await io.close(); // closes the adapter and the HTTP server
    await Promise.all([pub.quit(), sub.quit()]);
    out({ done: true });
    process.exit(0);
  } catch (err) {
    fail(err);
  }
});
