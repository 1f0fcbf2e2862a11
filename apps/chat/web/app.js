// Herald chat demo page: the /chat namespace through the official socket.io-client
// (loaded from the node at <path>socket.io.min.js). Plain JS, no build step.
// Everything users type is shown with textContent, never as HTML.
'use strict';

(() => {
  const $ = (id) => document.getElementById(id);
  const body = document.body;
  const PATH = body.dataset.path || '/socket.io/';
  const LOGIN = body.dataset.login === 'true';

  const TOKEN_KEY = 'herald-demo-token'; // per tab (sessionStorage)
  const ROOMS_KEY = 'herald-demo-rooms'; // per tab
  const NAME_KEY = 'herald-demo-name'; // per browser (localStorage)

  // ---- state ---------------------------------------------------------------
  const read = (storage, key, fallback) => {
    try {
      const v = storage.getItem(key);
      return v === null ? fallback : JSON.parse(v);
    } catch {
      return fallback;
    }
  };
  const write = (storage, key, value) => {
    try {
      if (value === null) storage.removeItem(key);
      else storage.setItem(key, JSON.stringify(value));
    } catch {
      /* storage unavailable (private mode): state lives in memory only */
    }
  };

  const guest = () => `guest-${Math.floor(1000 + Math.random() * 9000)}`;
  let name = read(localStorage, NAME_KEY, '') || guest();
  let session = read(sessionStorage, TOKEN_KEY, null); // {token, user, expires}
  if (session && !(Date.parse(session.expires) > Date.now())) session = null;
  const stored = read(sessionStorage, ROOMS_KEY, ['general']);
  const joined = new Set(Array.isArray(stored) ? stored : ['general']); // rooms to be in
  let active = ''; // '' is the lobby: the whole namespace, as in the seed

  // ---- channels and messages -----------------------------------------------
  const channels = new Map(); // room ('' = lobby) → {item, list, count, unread}

  function channel(room) {
    let ch = channels.get(room);
    if (ch) return ch;
    const item = document.createElement('li');
    item.dataset.room = room;
    const open = document.createElement('button');
    open.type = 'button';
    open.className = 'channel';
    const label = document.createElement('span');
    label.className = 'label';
    label.textContent = room ? `# ${room}` : '# lobby';
    const unread = document.createElement('span');
    unread.className = 'unread';
    const count = document.createElement('span');
    count.className = 'count';
    open.append(label, unread, count);
    open.addEventListener('click', () => show(room));
    item.append(open);
    if (room) {
      const leave = document.createElement('button');
      leave.type = 'button';
      leave.className = 'leave';
      leave.title = `Leave #${room}`;
      leave.setAttribute('aria-label', `Leave #${room}`);
      leave.textContent = '×';
      leave.addEventListener('click', () => leaveRoom(room));
      item.append(leave);
    }
    $('channel-list').append(item);
    const list = document.createElement('ol');
    list.className = 'messages';
    list.dataset.room = room;
    list.hidden = room !== active;
    $('message-lists').append(list);
    ch = { item, list, count, unread, n: null, unreadN: 0 };
    channels.set(room, ch);
    return ch;
  }

  function show(room, focus = true) {
    active = room;
    for (const [r, ch] of channels) {
      const on = r === room;
      ch.list.hidden = !on;
      ch.item.classList.toggle('active', on);
      if (on) {
        ch.unreadN = 0;
        ch.unread.textContent = '';
        ch.list.scrollTop = ch.list.scrollHeight;
      }
    }
    $('channel-title').textContent = room ? `# ${room}` : '# lobby';
    $('msg-text').placeholder = room ? `Message #${room}` : 'Message #lobby (everyone)';
    renderCount();
    if (focus) $('msg-text').focus({ preventScroll: true });
  }

  function renderCount() {
    const n = channels.get(active)?.n;
    $('channel-count').textContent = n == null ? '' : active ? `${n} here` : `${n} online`;
  }

  function setCount(room, n) {
    const ch = channels.get(room);
    if (!ch) return; // a count for a room just left
    ch.n = n;
    ch.count.textContent = String(n);
    ch.count.title = room ? `${n} in #${room}, on every node` : `${n} online, on every node`;
    if (room === active) renderCount();
  }

  const time = (d) => d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });

  function addMessage(msg) {
    const room = typeof msg.room === 'string' ? msg.room : '';
    const ch = channels.get(room) ?? (room ? null : channel(''));
    if (!ch) return;
    const li = document.createElement('li');
    li.className = msg.name === 'admin' ? 'msg notice' : 'msg';
    if (msg.name !== 'admin' && msg.name === name) li.classList.add('mine');
    const who = document.createElement('span');
    who.className = 'who';
    who.textContent = msg.name;
    const text = document.createElement('span');
    text.className = 'text';
    text.textContent = msg.text;
    const at = document.createElement('time');
    const now = new Date();
    at.dateTime = now.toISOString();
    at.textContent = time(now);
    li.append(who, text, at);
    const stick = ch.list.scrollHeight - ch.list.scrollTop - ch.list.clientHeight < 40;
    ch.list.append(li);
    while (ch.list.children.length > 500) ch.list.firstElementChild.remove();
    if (stick || room === active) ch.list.scrollTop = ch.list.scrollHeight;
    if (room !== active && !li.classList.contains('notice')) {
      ch.unreadN++;
      ch.unread.textContent = String(ch.unreadN);
    }
  }

  // ---- connection ----------------------------------------------------------
  const socket = io('/chat', {
    path: PATH,
    query: { username: name },
    // Called on every (re)connection, so a sign-in or sign-out takes effect on the next.
    auth: (cb) => cb(session ? { token: session.token } : {}),
  });

  const conn = $('conn');
  function setConn(state, detail) {
    conn.dataset.state = state;
    const transport = socket.io.engine?.transport?.name;
    conn.dataset.transport = state === 'connected' && transport ? transport : '';
    let text = state;
    if (state === 'connected') text = `connected · ${transport ?? '?'}`;
    if (state === 'reconnecting') text = `reconnecting… (attempt ${detail})`;
    if (state === 'disconnected' && detail) text = `disconnected (${detail})`;
    if (state === 'error') text = `cannot connect: ${detail}`;
    $('conn-text').textContent = text;
  }

  socket.on('connect', () => {
    setConn('connected');
    for (const room of joined) joinRoom(room, false);
  });
  socket.io.on('open', () => {
    socket.io.engine.on('upgrade', () => socket.connected && setConn('connected'));
  });
  socket.io.on('reconnect_attempt', (n) => setConn('reconnecting', n));
  socket.on('disconnect', (reason) => {
    setConn('disconnected', reason);
    conn.dataset.ready = '';
    $('identity').dataset.user = '';
    if (reason === 'io server disconnect') socket.connect(); // e.g. the server restarted the namespace
  });
  socket.on('connect_error', (err) => {
    if (session && err.message === 'unauthorized') {
      // The demo token expired, or the node now checks another key: sign out, go on as a guest.
      signOut('Your sign-in expired or is no longer accepted: signed out.');
      socket.connect();
      return;
    }
    if (err.message.startsWith('username:')) {
      // The node refused the display name (e.g. "admin"): connect as a guest instead.
      setName(guest());
      $('login-status').textContent = `Name refused (${err.message}): you are ${name}.`;
      socket.connect();
      return;
    }
    setConn('error', err.message);
  });

  // welcome: the node has set this socket up everywhere (in a cluster, the bus carries
  // what is sent to its user from now on).
  socket.on('welcome', (w) => {
    conn.dataset.ready = 'true';
    $('identity').dataset.user = w.user ?? '';
    renderIdentity();
  });
  socket.on('msgToClient', addMessage);
  socket.on('online', ({ count }) => setCount('', count));
  socket.on('roomCount', ({ room, count }) => setCount(room, count));
  socket.on('chatError', (e) => showError('msg-error', e.error));
  socket.on('notification', addNotification);

  function showError(id, text) {
    const el = $(id);
    el.textContent = text ?? '';
    if (text) setTimeout(() => el.textContent === text && (el.textContent = ''), 6000);
  }

  // ---- sending -------------------------------------------------------------
  $('msg-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const input = $('msg-text');
    const text = input.value;
    if (!text.trim()) return;
    const msg = { name, text };
    if (active) msg.room = active;
    socket.timeout(10_000).emit('msgToServer', msg, (err, res) => {
      if (err) showError('msg-error', 'Not confirmed by the server (no answer within 10 s).');
      else if (res && res.error) showError('msg-error', res.error);
    });
    input.value = '';
  });

  // setName changes the display name: the name of the next messages, and of the join
  // notice of the next connection.
  function setName(v) {
    name = v;
    $('name').value = v;
    write(localStorage, NAME_KEY, v);
    socket.io.opts.query.username = v;
  }

  $('name').value = name;
  $('name').addEventListener('change', () => {
    const v = $('name').value.trim();
    if (v) setName(v.slice(0, 64));
    else $('name').value = name;
  });

  // ---- rooms ---------------------------------------------------------------
  function joinRoom(room, switchTo) {
    channel(room);
    socket.timeout(10_000).emit('join', { room }, (err, res) => {
      if (err || res?.error) {
        showError('join-error', err ? `#${room}: no answer from the server` : res.error);
        if (!err) dropRoom(room);
        return;
      }
      joined.add(room);
      write(sessionStorage, ROOMS_KEY, [...joined]);
      if (switchTo) show(room);
    });
  }

  function dropRoom(room) {
    const ch = channels.get(room);
    if (ch) {
      ch.item.remove();
      ch.list.remove();
      channels.delete(room);
    }
    joined.delete(room);
    write(sessionStorage, ROOMS_KEY, [...joined]);
    if (active === room) show('', false);
  }

  function leaveRoom(room) {
    socket.emit('leave', { room });
    dropRoom(room);
  }

  $('join-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const room = $('join-room').value.trim();
    if (!room) return;
    $('join-room').value = '';
    if (joined.has(room)) {
      show(room);
      return;
    }
    joinRoom(room, true);
  });

  // ---- demo sign-in --------------------------------------------------------
  function renderIdentity() {
    const user = $('identity').dataset.user;
    $('signed-out').hidden = Boolean(session);
    $('signed-in').hidden = !session;
    $('login-form').hidden = !LOGIN;
    $('login-off').hidden = LOGIN;
    if (session) {
      $('me').textContent = session.user;
      $('expires').textContent = time(new Date(session.expires));
    }
    if (session && user !== session.user) $('login-status').textContent = 'Signing in…';
    else if (session) $('login-status').textContent = '';
    $('notify-form').hidden = !LOGIN;
    for (const el of $('notify-form').elements) el.disabled = !session;
    $('notif-empty').hidden = $('notif-list').children.length > 0;
    $('notif-empty').textContent = session
      ? `Nothing yet. Anything sent to ${session.user} shows here, in every tab, on any node.`
      : 'Sign in to get notifications sent to you, in every tab, on any node.';
  }

  function reconnect() {
    socket.disconnect();
    socket.connect();
  }

  function signOut(message) {
    session = null;
    write(sessionStorage, TOKEN_KEY, null);
    $('identity').dataset.user = '';
    $('login-status').textContent = message ?? '';
    renderIdentity();
  }

  async function postJSON(url, payload, headers = {}) {
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify(payload),
    });
    let data = {};
    try {
      data = await res.json();
    } catch {
      /* not JSON: keep the status */
    }
    return { ok: res.ok, status: res.status, data };
  }

  $('login-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    const user = $('login-user').value.trim();
    $('login-status').textContent = 'Signing in…';
    try {
      const res = await postJSON('/demo/login', { user });
      if (!res.ok) {
        $('login-status').textContent = res.data.error ?? `Sign-in failed (HTTP ${res.status})`;
        return;
      }
      session = { token: res.data.token, user: res.data.user, expires: res.data.expires };
      write(sessionStorage, TOKEN_KEY, session);
      if (name.startsWith('guest-')) setName(session.user);
      renderIdentity();
      reconnect(); // the next handshake carries the token
    } catch (err) {
      $('login-status').textContent = `Sign-in failed: ${err.message}`;
    }
  });

  $('logout').addEventListener('click', () => {
    signOut('Signed out.');
    reconnect();
  });

  // ---- private notifications -----------------------------------------------
  function addNotification(n) {
    const li = document.createElement('li');
    const from = document.createElement('strong');
    from.textContent = n.from;
    const text = document.createElement('span');
    text.className = 'text';
    text.textContent = n.text;
    const at = document.createElement('time');
    const d = new Date(n.at);
    at.dateTime = Number.isNaN(d.getTime()) ? '' : d.toISOString();
    at.textContent = Number.isNaN(d.getTime()) ? '' : time(d);
    li.append(from, text, at);
    $('notif-list').prepend(li);
    while ($('notif-list').children.length > 50) $('notif-list').lastElementChild.remove();
    renderIdentity();
  }

  $('notify-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    if (!session) return;
    const to = $('notify-to').value.trim();
    const text = $('notify-text').value;
    $('notify-status').textContent = 'Sending…';
    try {
      const res = await postJSON('/demo/notify', { to, text }, { authorization: `Bearer ${session.token}` });
      if (res.status === 401) {
        signOut('Your sign-in expired: sign in again.');
        reconnect();
        return;
      }
      if (!res.ok) {
        $('notify-status').textContent = res.data.error ?? `Not sent (HTTP ${res.status})`;
        return;
      }
      $('notify-status').textContent = `Sent to ${res.data.to}.`;
      $('notify-text').value = '';
    } catch (err) {
      $('notify-status').textContent = `Not sent: ${err.message}`;
    }
  });

  // ---- start ---------------------------------------------------------------
  channel('');
  for (const room of joined) channel(room);
  show('', false); // no focus: a phone would open its keyboard
  renderIdentity();
})();
