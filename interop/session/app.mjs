// A real Express app with express-session and connect-redis, for Herald's
// auth.TestExpressSessionInterop: the cookie it sets must identify the same user in
// Herald's auth.SessionStore, which reads the session connect-redis wrote.
//
//   node app.mjs           serve on 127.0.0.1 (PORT, default 0: a free port) and print
//                          "listening PORT" once Redis is connected and the port is open
//   node app.mjs vectors   print, one JSON object per line, signatures made by the
//                          cookie-signature that express-session itself uses, for the
//                          literal vectors in auth/session_test.go
//
// Environment: REDIS_URL (redis://127.0.0.1:PORT), SESSION_SECRET (comma-separated;
// the first signs, every one verifies, as express-session's secret array),
// SESSION_PREFIX (connect-redis prefix, default "sess:"), SESSION_COOKIE (default
// "connect.sid").
//
// Routes:
//   POST /login   JSON {"user": "42" | 42, "as": "passport" | "userId"} stores the user
//                 as req.session.passport = {user} (passport's layout, the default) or
//                 as req.session.userId; answers {"sid": ...}
//   POST /logout  destroys the session (connect-redis deletes the key); the browser
//                 keeps its cookie
//   GET  /me      {"sid": req.sessionID, "user": the user as String(...), or null}: how
//                 express-session itself reads the request's Cookie header
import { createRequire } from "node:module";
import express from "express";
import session from "express-session";
import { RedisStore } from "connect-redis";
import { createClient } from "redis";

if (process.argv[2] === "vectors") {
  printVectors();
} else {
  await serve();
}

async function serve() {
  const secrets = (process.env.SESSION_SECRET || "").split(",").filter((s) => s !== "");
  if (secrets.length === 0) throw new Error("SESSION_SECRET is required");
  const client = createClient({ url: process.env.REDIS_URL });
  client.on("error", (err) => console.error("redis:", err.message));
  await client.connect();

  const app = express();
  app.use(express.json());
  app.use(
    session({
      name: process.env.SESSION_COOKIE || "connect.sid",
      secret: secrets,
      store: new RedisStore({ client, prefix: process.env.SESSION_PREFIX ?? "sess:" }),
      resave: false,
      saveUninitialized: false,
      cookie: { maxAge: 60 * 60 * 1000, httpOnly: true, sameSite: "lax" },
    }),
  );

  app.post("/login", (req, res, next) => {
    const { user, as = "passport" } = req.body ?? {};
    // A fresh id on login, as passport does (session fixation).
    req.session.regenerate((err) => {
      if (err) return next(err);
      if (as === "userId") req.session.userId = user;
      else req.session.passport = { user };
      req.session.save((err) => (err ? next(err) : res.json({ sid: req.sessionID })));
    });
  });

  app.post("/logout", (req, res, next) => {
    req.session.destroy((err) => (err ? next(err) : res.json({ ok: true })));
  });

  app.get("/me", (req, res) => {
    const s = req.session;
    const user = s.passport?.user ?? s.userId;
    res.json({ sid: req.sessionID, user: user == null ? null : String(user) });
  });

  const server = app.listen(Number(process.env.PORT || 0), "127.0.0.1", () => {
    console.log(`listening ${server.address().port}`);
  });
  const stop = () => server.close(() => client.quit().finally(() => process.exit(0)));
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
  process.stdin.on("end", stop); // the Go test closes stdin (or dies): stop with it
  process.stdin.resume();
}

// printVectors signs with the cookie-signature copy nested under express-session (1.0.x),
// the one its setcookie/unsigncookie call, and encodes the cookie as it does
// (cookie.serialize uses encodeURIComponent).
function printVectors() {
  const require = createRequire(import.meta.resolve("express-session"));
  const signature = require("cookie-signature");
  const cookie = require("cookie");
  const cases = [
    ["uDsGNm9qTKIL2C-Ynyx3FN6ZYjPOVu1e", "keyboard cat"],
    ["uDsGNm9qTKIL2C-Ynyx3FN6ZYjPOVu1e", "new secret"],
    ["", "keyboard cat"],
    ["a.b.c", "keyboard cat"],
    ["sid with spaces/+é", "sécret ünïcode"],
    ["x", "s"],
  ];
  for (const [sid, secret] of cases) {
    const signed = signature.sign(sid, secret);
    console.log(
      JSON.stringify({
        sid,
        secret,
        signed,
        header: cookie.serialize("connect.sid", "s:" + signed),
        unsigned: signature.unsign(signed, secret),
      }),
    );
  }
}
