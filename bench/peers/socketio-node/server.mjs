// Reference Socket.IO server (Node, socket.io 4.8) that mirrors Herald's bench
// namespace, so herald-bench can load both the same way.
//
// env:
//   PORT       listen port (default 3000; 0 picks a free one)
//   HOST       listen address (default 127.0.0.1; the bench is loopback only)
//   REDIS_URL  when set, use @socket.io/redis-adapter over node-redis 4
//   BENCH_NSPS comma-separated namespaces with the bench handlers (default "/bench",
//              as Herald's apps/bench; "/" still accepts connections without them)
//
// Events (on every bench namespace), the same as Herald's apps/bench:
//   join(room, ack?)              joins room when it is a non-empty string, acks "ok"
//   broadcast(room|null, payload, ack?)
//                                 emits "bench"(payload) to the room when it is a string,
//                                 to the whole namespace when it is null or absent (sender
//                                 included either way), to nobody for any other value;
//                                 acks "ok"
//   echo(...args, ack)            acks with the same args
//
// Prints "listening PORT" on stdout once it accepts connections.

import { createServer } from "node:http";
import { Server } from "socket.io";

const port = Number.parseInt(process.env.PORT ?? "3000", 10);
const host = process.env.HOST || "127.0.0.1";
const nsps = (process.env.BENCH_NSPS || "/bench")
  .split(",")
  .map((s) => s.trim())
  .filter(Boolean);

const httpServer = createServer();
const io = new Server(httpServer, {
  path: "/socket.io/",
  serveClient: false,
});

let redisClients = [];
if (process.env.REDIS_URL) {
  const { createClient } = await import("redis");
  const { createAdapter } = await import("@socket.io/redis-adapter");
  const pub = createClient({ url: process.env.REDIS_URL });
  const sub = pub.duplicate();
  for (const c of [pub, sub]) c.on("error", (err) => console.error("redis:", err.message));
  await Promise.all([pub.connect(), sub.connect()]);
  io.adapter(createAdapter(pub, sub));
  redisClients = [pub, sub];
}

function ackOf(args) {
  return typeof args.at(-1) === "function" ? args.pop() : undefined;
}

for (const name of nsps) {
  const nsp = io.of(name);
  nsp.on("connection", (socket) => {
    socket.on("join", (...args) => {
      const ack = ackOf(args);
      const [room] = args;
      if (typeof room === "string" && room !== "") socket.join(room);
      ack?.("ok");
    });
    socket.on("broadcast", (...args) => {
      const ack = ackOf(args);
      const [room, payload] = args;
      if (room == null) nsp.emit("bench", payload);
      else if (typeof room === "string") nsp.to(room).emit("bench", payload);
      ack?.("ok");
    });
    socket.on("echo", (...args) => {
      const ack = ackOf(args);
      ack?.(...args);
    });
  });
}

let closing = false;
function shutdown() {
  if (closing) return;
  closing = true;
  io.close(() => {
    Promise.allSettled(redisClients.map((c) => c.quit())).then(() => process.exit(0));
  });
  setTimeout(() => process.exit(0), 3000).unref();
}
process.on("SIGINT", shutdown);
process.on("SIGTERM", shutdown);

httpServer.listen(port, host, () => {
  console.log(`listening ${httpServer.address().port}`);
});
