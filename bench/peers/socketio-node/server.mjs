// Reference Socket.IO server (Node, socket.io 4.8) that mirrors Herald's bench
// namespace, so herald-bench can load both the same way.
//
// env:
//   PORT       listen port (default 3000; 0 picks a free one)
//   HOST       listen address (default 127.0.0.1; the bench is loopback only)
//   REDIS_URL  when set, use @socket.io/redis-adapter over node-redis 4
//   BENCH_NSPS comma-separated namespaces with the bench handlers (default "/bench",
//              as Herald's apps/bench; "/" still accepts connections without them)
//   JWT_SECRET when set, every namespace ("/" and the bench ones) verifies an HS256 JWT
//              from the CONNECT auth payload {token}, as Herald with HERALD_JWT_SECRET:
//              a valid token joins the socket to "user:<sub>" and "authenticated"
//              before the CONNECT ack; a bad one is refused (connect_error
//              "unauthorized", data {reason}); no token is anonymous, admitted unless
//              ALLOW_ANONYMOUS=false
//   API_KEYS   comma-separated bearer keys: enables POST /api/v1/emit, the subset of
//              Herald's HTTP API (docs/API.md) herald-bench -publish=api uses:
//              {"namespace","event","data","to":{"all":true}|{"rooms":[..]}|{"users":[..]}}
//              → 202 {"id"}; without keys it answers 404, as Herald does
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

import { createHash, createHmac, randomUUID, timingSafeEqual } from "node:crypto";
import { createServer } from "node:http";
import { Server } from "socket.io";

const port = Number.parseInt(process.env.PORT ?? "3000", 10);
const host = process.env.HOST || "127.0.0.1";
const nsps = (process.env.BENCH_NSPS || "/bench")
  .split(",")
  .map((s) => s.trim())
  .filter(Boolean);

const jwtSecret = process.env.JWT_SECRET || "";
const allowAnonymous = process.env.ALLOW_ANONYMOUS !== "false";
const apiKeys = (process.env.API_KEYS || "")
  .split(",")
  .map((s) => s.trim())
  .filter(Boolean)
  .map(sha256);

// Engine.IO answers its own path; every other request comes here.
const httpServer = createServer((req, res) => {
  handleAPI(req, res).catch((err) => reply(res, 500, { error: String(err?.message ?? err) }));
});
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

function sha256(s) {
  return createHash("sha256").update(s).digest();
}

// verifyHS256 returns the user (sub) of an HS256 JWT signed with secret, or throws.
// exp and nbf are checked without leeway, as Herald does; other algorithms are refused.
function verifyHS256(token, secret) {
  const parts = typeof token === "string" ? token.split(".") : [];
  if (parts.length !== 3) throw new Error("malformed token");
  const [h, p, sig] = parts;
  let header, claims;
  try {
    header = JSON.parse(Buffer.from(h, "base64url").toString("utf8"));
    claims = JSON.parse(Buffer.from(p, "base64url").toString("utf8"));
  } catch {
    throw new Error("malformed token");
  }
  if (header?.alg !== "HS256") throw new Error(`algorithm ${header?.alg} is not accepted`);
  const want = createHmac("sha256", secret).update(`${h}.${p}`).digest();
  const got = Buffer.from(sig, "base64url");
  if (got.length !== want.length || !timingSafeEqual(got, want)) throw new Error("bad signature");
  const now = Date.now() / 1000;
  if (typeof claims.exp === "number" && now >= claims.exp) throw new Error("token expired");
  if (typeof claims.nbf === "number" && now < claims.nbf) throw new Error("token not valid yet");
  if (typeof claims.sub === "number") return String(claims.sub);
  if (typeof claims.sub !== "string" || claims.sub === "") throw new Error('no "sub" claim');
  return claims.sub;
}

function refusal(reason) {
  const err = new Error("unauthorized");
  err.data = { reason };
  return err;
}

// authenticate is the namespace middleware of JWT_SECRET.
function authenticate(socket, next) {
  const token = socket.handshake.auth?.token;
  if (!token) return allowAnonymous ? next() : next(refusal("no credentials"));
  let user;
  try {
    user = verifyHS256(token, jwtSecret);
  } catch {
    return next(refusal("invalid credentials"));
  }
  socket.data.user = user;
  // Joined before the CONNECT ack, as Herald's auth middleware does; socket.io
  // leaves these rooms again if the client is gone before the ack.
  socket.join([`user:${user}`, "authenticated"]);
  next();
}

if (jwtSecret) {
  for (const name of new Set(["/", ...nsps])) io.of(name).use(authenticate);
}

function reply(res, status, body, headers = {}) {
  if (res.headersSent) return;
  res.writeHead(status, { "Content-Type": "application/json", ...headers });
  res.end(JSON.stringify(body) + "\n");
}

const maxBody = 1_000_000;

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    req.on("data", (c) => {
      size += c.length;
      if (size > maxBody) {
        reject(new Error(`body: over the limit of ${maxBody} bytes`));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

function ids(field, v) {
  if (!Array.isArray(v) || v.length === 0 || !v.every((s) => typeof s === "string" && s !== "")) {
    throw new Error(`${field}: must be a non-empty array of non-empty strings`);
  }
  return v;
}

// handleAPI serves POST /api/v1/emit: the same request shape as Herald's API, for
// the kinds herald-bench sends ("all", "rooms", "users"; no "except", no "wait").
async function handleAPI(req, res) {
  const path = new URL(req.url, "http://localhost").pathname;
  if (path !== "/api/v1/emit") return reply(res, 404, { error: "not found" });
  if (apiKeys.length === 0) {
    return reply(res, 404, { error: "the HTTP API is disabled (no API key configured)" });
  }
  if (req.method !== "POST") return reply(res, 405, { error: "method not allowed" }, { Allow: "POST" });
  const auth = req.headers.authorization ?? "";
  const given = /^bearer /i.test(auth) ? sha256(auth.slice(7).trim()) : null;
  if (!given || !apiKeys.some((k) => timingSafeEqual(k, given))) {
    return reply(res, 401, { error: "missing or wrong API key (Authorization: Bearer <key>)" });
  }
  let body;
  try {
    body = JSON.parse(await readBody(req));
  } catch (err) {
    return reply(res, 400, { error: `body: ${err.message}` });
  }
  try {
    if (body === null || typeof body !== "object" || Array.isArray(body)) throw new Error("body: must be a JSON object");
    const namespace = body.namespace || "/";
    if (typeof namespace !== "string" || !namespace.startsWith("/")) throw new Error("namespace: must start with /");
    if (typeof body.event !== "string" || body.event === "") throw new Error("event: required, a non-empty string");
    const to = body.to;
    const kinds = to && typeof to === "object" ? Object.keys(to) : [];
    if (kinds.length !== 1) throw new Error("to: give exactly one of all, rooms, users");
    let op = io.of(namespace);
    switch (kinds[0]) {
      case "all":
        if (to.all !== true) throw new Error("to.all: must be true");
        break;
      case "rooms":
        op = op.to(ids("to.rooms", to.rooms));
        break;
      case "users":
        op = op.to(ids("to.users", to.users).map((u) => `user:${u}`));
        break;
      default:
        throw new Error(`to: unknown kind "${kinds[0]}" (this peer knows all, rooms, users)`);
    }
    if ("data" in body) op.emit(body.event, body.data);
    else op.emit(body.event);
  } catch (err) {
    return reply(res, 400, { error: err.message });
  }
  reply(res, 202, { id: randomUUID() });
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
