// Helpers shared by the cluster interop scripts, which bus/redis TestNodeCompat and
// cluster TestMixedClusterWithNode run. Each script talks to the Redis server at
// 127.0.0.1:$REDIS_PORT, or else at $REDIS_URL (redis://host:port), and reports to the
// Go test with one JSON object per line on stdout.
import { createClient } from "redis";

/** out writes one JSON line to stdout. */
export function out(obj) {
  process.stdout.write(JSON.stringify(obj) + "\n");
}

/** connect returns a connected node-redis 4 client and a duplicate for subscribing. */
export async function connect() {
  const port = process.env.REDIS_PORT;
  const url = port ? `redis://127.0.0.1:${port}` : process.env.REDIS_URL;
  if (!url) throw new Error("neither REDIS_PORT nor REDIS_URL is set");
  const pub = createClient({ url });
  const sub = pub.duplicate();
  for (const c of [pub, sub]) c.on("error", (err) => fail(err));
  await Promise.all([pub.connect(), sub.connect()]);
  return { pub, sub };
}

/**
 * subscriptionsDone resolves once every SUBSCRIBE and PSUBSCRIBE the adapters queued on
 * sub has been confirmed: node-redis sends commands on one connection in order, so an
 * own subscription made afterwards is confirmed after theirs.
 */
export async function subscriptionsDone(sub) {
  await sub.subscribe("herald-test-sync", () => {});
}

/** plain turns Buffers into {"$bin": hex} and functions into "$fn", for JSON output. */
export function plain(v) {
  if (Buffer.isBuffer(v) || v instanceof Uint8Array) return { $bin: Buffer.from(v).toString("hex") };
  if (v instanceof ArrayBuffer) return { $bin: Buffer.from(v).toString("hex") };
  if (typeof v === "function") return "$fn";
  if (Array.isArray(v)) return v.map(plain);
  if (v && typeof v === "object" && !(v instanceof Date)) {
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plain(x)]));
  }
  return v;
}

/** fail reports an error to the Go test and exits non-zero. */
export function fail(err) {
  out({ error: String(err && err.stack ? err.stack : err) });
  process.exit(1);
}

process.on("unhandledRejection", fail);
process.on("uncaughtException", fail);
