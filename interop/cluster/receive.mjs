// Go → Node: a socket.io 4.8 server with @socket.io/redis-adapter 8.3 and four real
// socket.io-client connections receive what the Go test publishes with bus/redis.
//
// Clients: A in room r1, B in r2, C in r1 and r3 (all on "/"), D on "/admin". Each
// line printed is one event a client or the server received. The Go test publishes a
// "marker" event last; when every client has printed it, it closes this script's
// stdin and the script exits.
import { createServer } from "node:http";
import { Server } from "socket.io";
import { io as connectClient } from "socket.io-client";
import { createAdapter } from "@socket.io/redis-adapter";
import { connect, subscriptionsDone, out, plain, fail } from "./common.mjs";

const { pub, sub } = await connect();
const httpServer = createServer();
const io = new Server(httpServer);
io.adapter(createAdapter(pub, sub));
const admin = io.of("/admin");

for (const nsp of [io.of("/"), admin]) {
  nsp.on("connection", (socket) => {
    socket.join(socket.handshake.auth.rooms || []);
    socket.data.name = socket.handshake.auth.name;
    socket.emit("welcome"); // after the joins: when the client sees it, it is in its rooms
  });
}
// Server-side events from other nodes (SERVER_SIDE_EMIT requests).
io.on("go-hello", (...args) => out({ server: "go-hello", args: plain(args) }));
io.on("go-ask", (n, ack) => ack(n * 2));

await new Promise((resolve) => httpServer.listen(0, "127.0.0.1", resolve));
const url = `http://127.0.0.1:${httpServer.address().port}`;

const specs = [
  { name: "A", nsp: "/", rooms: ["r1"] },
  { name: "B", nsp: "/", rooms: ["r2"] },
  { name: "C", nsp: "/", rooms: ["r1", "r3"] },
  { name: "D", nsp: "/admin", rooms: [] },
];
const clients = await Promise.all(
  specs.map(
    (spec) =>
      new Promise((resolve, reject) => {
        const socket = connectClient(url + spec.nsp, {
          transports: ["websocket"],
          forceNew: true,
          reconnection: false,
          auth: { name: spec.name, rooms: spec.rooms },
        });
        socket.onAny((event, ...args) => {
          if (event === "welcome") return resolve(socket);
          out({ client: spec.name, event, args: plain(args) });
          const ack = args[args.length - 1];
          if (typeof ack === "function") {
            ack({ got: args.length - 1, from: spec.name, bin: Buffer.from([0xbe, 0xef]) });
          }
        });
        socket.on("connect_error", reject);
      }),
  ),
);
await subscriptionsDone(sub);
out({
  ready: true,
  uid: io.of("/").adapter.uid,
  sids: Object.fromEntries(specs.map((spec, i) => [spec.name, clients[i].id])),
});

process.stdin.resume();
process.stdin.on("end", async () => {
  for (const c of clients) c.disconnect();
  await io.close();
  await Promise.all([pub.quit(), sub.quit()]);
  out({ done: true });
  process.exit(0);
});
