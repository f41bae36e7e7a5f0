'use strict';
// The benchmark's peer: the seed's own stack (Node.js, Express 5, ws 8, better-sqlite3 in WAL
// mode) doing dispatchwire's order -> offer job the way the seed does it. POST /api/orders
// stores the order, takes the master idle longest from an in-memory queue of idle, on-shift,
// subscribed masters, stores the offer with its deadline in the same transaction and pushes the
// same `new_assignment` frame; a client's cancel withdraws the offer and frees the master; an
// offer that runs out of time expires and its order moves on. Like the seed, it keeps no event
// log: `eventId` counts per user in memory and `lastEventId` is ignored.
const crypto = require('node:crypto');
const fs = require('node:fs');
const http = require('node:http');
const path = require('node:path');
const express = require('express');
const jwt = require('jsonwebtoken');
const Database = require('better-sqlite3');
const { WebSocketServer } = require('ws');

const env = process.env;
if (!env.JWT_SECRET) throw new Error('JWT_SECRET must be set');
// A KeyObject, made once: given a string, jsonwebtoken 9 rebuilds a key object on every verify.
const SECRET = crypto.createSecretKey(Buffer.from(env.JWT_SECRET));
const TIMEOUT_MS = Number(env.ASSIGNMENT_TIMEOUT_S || 300) * 1000;
const PING_MS = Number(env.WS_PING_INTERVAL_S || 20) * 1000; // dispatchwire's keepalive: 20 s
const STALE_MS = 300 * 1000; // a subscription with no ping for 5 minutes is dropped
const AUTH_TIMEOUT_MS = 10 * 1000;
const RATE = 20, BURST = 40; // messages a socket may send per second, and at once
const log = env.LOG === '0' ? () => {} : (...args) => console.log(new Date().toISOString(), ...args);

const db = new Database(env.DATABASE || 'peer.db');
db.pragma('journal_mode = WAL');
db.pragma('synchronous = NORMAL');
db.pragma('foreign_keys = ON');
db.exec(fs.readFileSync(path.join(__dirname, 'schema.sql'), 'utf8'));
const sql = {
  user: db.prepare(`SELECT u.id, u.role, m.id AS masterId FROM users u
                    LEFT JOIN masters m ON m.user_id = u.id WHERE u.id = ?`),
  masters: db.prepare('SELECT id, user_id AS userId, specializations, on_shift AS onShift FROM masters'),
  busy: db.prepare(`SELECT master_id AS id FROM assignments WHERE status = 'pending' UNION
                    SELECT master_id FROM orders WHERE status IN ('assigned', 'in_progress')`),
  insertOrder: db.prepare(`INSERT INTO orders (client_id, status, appliance_type, problem, address,
                           lat, lon, created_at, updated_at) VALUES (?, 'new', ?, ?, ?, ?, ?, ?, ?)`),
  insertOffer: db.prepare(`INSERT INTO assignments (order_id, master_id, status, created_at, expires_at)
                           VALUES (?, ?, 'pending', ?, ?)`),
  order: db.prepare('SELECT * FROM orders WHERE id = ?'),
  waiting: db.prepare(`SELECT * FROM orders WHERE status = 'new' AND id NOT IN
                       (SELECT order_id FROM assignments WHERE status = 'pending') ORDER BY id`),
  open: db.prepare(`SELECT id, order_id AS orderId, master_id AS masterId, created_at AS createdAt,
                    expires_at AS expiresAt FROM assignments WHERE status = 'pending'`),
  pendingOf: db.prepare(`SELECT id, master_id AS masterId FROM assignments
                         WHERE order_id = ? AND status = 'pending'`),
  resolve: db.prepare(`UPDATE assignments SET status = ?, resolved_at = ? WHERE id = ? AND status = 'pending'`),
  setStatus: db.prepare('UPDATE orders SET status = ?, updated_at = ? WHERE id = ?'),
};

// In memory, as in the seed: masters, the idle queue (a Set keeps insertion order: idle longest
// first), orders waiting for a master, offer timers, sockets by user.
const masters = new Map();
for (const row of sql.masters.all()) {
  masters.set(row.id, { ...row, specs: JSON.parse(row.specializations), subscribed: 0, busy: false, lastPing: 0 });
}
for (const { id } of sql.busy.all()) masters.get(id).busy = true;
const idle = new Set();
const waiting = sql.waiting.all();
const refusedBy = new Map(); // order id -> ids of masters who let its offer expire
const timers = new Map(); // offer id -> its expiry timer
const sockets = new Map(); // user id -> Set of sockets
const eventIds = new Map(); // user id -> last eventId sent

const now = () => new Date().toISOString();
const takes = (m, order) => (m.specs.length === 0 || m.specs.includes(order.appliance_type))
  && !(refusedBy.get(order.id)?.has(m.id));

function send(userId, type, fields, offer) {
  const eventId = (eventIds.get(userId) || 0) + 1;
  eventIds.set(userId, eventId);
  const text = JSON.stringify({ type, eventId, ...fields });
  for (const ws of sockets.get(userId) || []) if (!offer || ws.subscribed) ws.send(text);
}

function firstIdle(order) {
  for (const master of idle) if (takes(master, order)) return master;
  return null;
}

// Inside a transaction: offer the order to the master idle longest who takes it.
function offerInTx(order, at, master = firstIdle(order)) {
  if (!master) return null;
  const expiresAt = new Date(Date.parse(at) + TIMEOUT_MS).toISOString();
  const id = Number(sql.insertOffer.run(order.id, master.id, at, expiresAt).lastInsertRowid);
  idle.delete(master);
  master.busy = true;
  return { id, order, master, createdAt: at, expiresAt };
}

// After the commit: push the offer and start its timer; with no master the order waits.
function announce(offer, order) {
  if (!offer) return void waiting.push(order);
  timers.set(offer.id, setTimeout(expire, Date.parse(offer.expiresAt) - Date.now(), offer));
  const o = offer.order;
  send(offer.master.userId, 'new_assignment', { assignment: {
    id: offer.id, orderId: o.id, applianceType: o.appliance_type, problem: o.problem,
    address: o.address, expiresAt: offer.expiresAt, createdAt: offer.createdAt } }, true);
  log(`offer ${offer.id}: order ${o.id} to master ${offer.master.id} until ${offer.expiresAt}`);
}

function makeIdle(master) {
  master.busy = false;
  if (!master.onShift || master.subscribed === 0) return;
  idle.delete(master);
  idle.add(master);
  const i = waiting.findIndex((order) => takes(master, order));
  if (i < 0) return;
  const [order] = waiting.splice(i, 1);
  announce(db.transaction(() => offerInTx(order, now(), master))(), order);
}

const expireTx = db.transaction((offer, at) => {
  if (sql.resolve.run('expired', at, offer.id).changes === 0) return null;
  if (!refusedBy.has(offer.order.id)) refusedBy.set(offer.order.id, new Set());
  refusedBy.get(offer.order.id).add(offer.master.id);
  return offerInTx(offer.order, at);
});

function expire(offer) {
  timers.delete(offer.id);
  const next = expireTx(offer, now());
  send(offer.master.userId, 'assignment_expired', { assignmentId: offer.id }, true);
  makeIdle(offer.master);
  announce(next, offer.order);
}

for (const row of sql.open.all()) { // offers made before a restart keep their deadlines
  const offer = { ...row, order: sql.order.get(row.orderId), master: masters.get(row.masterId) };
  timers.set(offer.id, setTimeout(expire, Math.max(0, Date.parse(row.expiresAt) - Date.now()), offer));
}

function userOf(token) {
  try {
    return sql.user.get(Number(jwt.verify(token, SECRET, { algorithms: ['HS256'] }).sub)) || null;
  } catch {
    return null;
  }
}

const auth = (...roles) => (req, res, next) => {
  const header = req.get('authorization') || '';
  req.user = header.startsWith('Bearer ') ? userOf(header.slice(7)) : null;
  if (!req.user) return res.status(401).json({ detail: 'token is missing or invalid' });
  if (!roles.includes(req.user.role)) return res.status(403).json({ detail: `needs ${roles.join(' or ')}` });
  next();
};

const orderOut = (o) => ({ id: o.id, status: o.status, applianceType: o.appliance_type,
  problem: o.problem, address: o.address, lat: o.lat, lon: o.lon, clientId: o.client_id,
  masterId: o.master_id, createdAt: o.created_at, updatedAt: o.updated_at });
const text = (v, max) => typeof v === 'string' && v.trim().length > 0 && v.length <= max;
const coord = (v, max) => v == null || (typeof v === 'number' && Math.abs(v) <= max);

const placeTx = db.transaction((clientId, b, at) => {
  const info = sql.insertOrder.run(clientId, b.applianceType, b.problem, b.address,
    b.lat ?? null, b.lon ?? null, at, at);
  const order = sql.order.get(info.lastInsertRowid);
  return { order, offer: offerInTx(order, at) };
});

const cancelTx = db.transaction((order, at) => {
  sql.setStatus.run('cancelled', at, order.id);
  const pending = sql.pendingOf.get(order.id);
  if (pending) sql.resolve.run('cancelled', at, pending.id);
  return pending;
});

const app = express();
app.use(express.json({ limit: '64kb' }));
app.get('/health', (req, res) => res.json({ status: 'ok' }));

app.post('/api/orders', auth('client', 'admin'), (req, res) => {
  const b = req.body || {};
  if (!/^[a-z][a-z0-9_]{0,49}$/.test(b.applianceType) || !text(b.problem, 2000)
      || !text(b.address, 500) || !coord(b.lat, 90) || !coord(b.lon, 180)) {
    return res.status(422).json({ detail: 'applianceType, problem and address are required' });
  }
  const { order, offer } = placeTx(req.user.id, b, now());
  log(`order ${order.id} placed by user ${req.user.id}: ${order.appliance_type}`);
  announce(offer, order);
  res.status(201).json(orderOut(order));
});

// Only the client's (or an admin's) cancel: the benchmark's way of freeing masters.
app.post('/api/orders/:id/status', auth('client', 'admin'), (req, res) => {
  const order = sql.order.get(Number(req.params.id));
  if (!order || (req.user.role === 'client' && order.client_id !== req.user.id)) {
    return res.status(404).json({ detail: `order ${req.params.id} not found` });
  }
  if (req.body?.status !== 'cancelled') return res.status(422).json({ detail: 'the peer only cancels' });
  if (!['new', 'assigned'].includes(order.status)) {
    return res.status(409).json({ detail: `order ${order.id} is ${order.status}` });
  }
  const at = now();
  const pending = cancelTx(order, at);
  const i = waiting.findIndex((o) => o.id === order.id);
  if (i >= 0) waiting.splice(i, 1);
  const master = masters.get(pending?.masterId ?? order.master_id);
  send(order.client_id, 'order_status_update', { orderId: order.id, status: 'cancelled' });
  if (order.master_id) send(master.userId, 'order_status_update', { orderId: order.id, status: 'cancelled' });
  if (pending) {
    clearTimeout(timers.get(pending.id));
    timers.delete(pending.id);
    send(master.userId, 'assignment_expired', { assignmentId: pending.id }, true);
  }
  if (master) makeIdle(master);
  log(`order ${order.id}: ${order.status} -> cancelled by user ${req.user.id}`);
  res.json(orderOut({ ...order, status: 'cancelled', updated_at: at }));
});

const server = http.createServer(app);
const wss = new WebSocketServer({ server, path: '/ws', maxPayload: 64 * 1024 });
const reply = (ws, message) => ws.send(JSON.stringify(message));

function unsubscribe(ws) {
  if (!ws.subscribed) return;
  ws.subscribed = false;
  const master = masters.get(ws.user.masterId);
  if (--master.subscribed === 0) idle.delete(master);
}

function onAuth(ws, token) {
  const user = typeof token === 'string' ? userOf(token) : null;
  if (!user) {
    reply(ws, { type: 'auth_error', message: 'token is invalid' });
    return ws.close(4401, 'token is invalid');
  }
  if (!ws.user) {
    ws.user = user;
    clearTimeout(ws.authTimer);
    if (!sockets.has(user.id)) sockets.set(user.id, new Set());
    sockets.get(user.id).add(ws);
    log(`WebSocket authentication: user #${user.id}`);
  }
  reply(ws, { type: 'auth_success', userId: user.id, role: user.role,
    ...(user.masterId != null ? { masterId: user.masterId } : {}) });
}

function onSubscribe(ws) {
  if (ws.user.masterId == null) {
    return reply(ws, { type: 'error', code: 'forbidden', message: 'only masters can subscribe to assignments' });
  }
  const master = masters.get(ws.user.masterId);
  master.lastPing = Date.now();
  if (!ws.subscribed) {
    ws.subscribed = true;
    if (++master.subscribed === 1 && !master.busy) makeIdle(master);
    log(`master #${master.id} subscribed to assignments`);
  }
  reply(ws, { type: 'subscribed_assignments' });
}

function onMessage(ws, data, isBinary) {
  const t = Date.now(); // a token bucket, as the seed's rate limiting of socket messages
  ws.tokens = Math.min(BURST, ws.tokens + ((t - ws.refilled) / 1000) * RATE);
  ws.refilled = t;
  if (ws.tokens < 1) return reply(ws, { type: 'error', code: 'rate_limited', message: 'too many messages' });
  ws.tokens -= 1;
  let msg;
  try {
    msg = isBinary ? null : JSON.parse(data);
  } catch {
    msg = null;
  }
  if (!msg || typeof msg !== 'object') return reply(ws, { type: 'error', code: 'bad_json', message: 'send one JSON object' });
  if (msg.type === 'auth') return onAuth(ws, msg.token);
  if (!ws.user) return reply(ws, { type: 'error', code: 'not_authenticated', message: 'send auth with your token first' });
  if (msg.type === 'subscribe_assignments') return onSubscribe(ws);
  if (msg.type === 'unsubscribe_assignments') {
    unsubscribe(ws);
    return reply(ws, { type: 'unsubscribed_assignments' });
  }
  if (msg.type === 'ping') {
    if (ws.subscribed) masters.get(ws.user.masterId).lastPing = Date.now();
    return reply(ws, { type: 'pong' });
  }
  reply(ws, { type: 'error', code: 'unknown_type', message: `unknown type ${msg.type}` });
}

wss.on('connection', (ws) => {
  Object.assign(ws, { user: null, subscribed: false, alive: true, tokens: BURST, refilled: Date.now() });
  ws.authTimer = setTimeout(() => ws.close(4408, 'no auth in time'), AUTH_TIMEOUT_MS);
  // Each socket pings on its own timer, so pings spread over time instead of 10,000 in a row.
  ws.pinger = setInterval(() => {
    if (!ws.alive) return ws.terminate();
    ws.alive = false;
    ws.ping();
  }, PING_MS);
  ws.on('pong', () => { ws.alive = true; });
  ws.on('message', (data, isBinary) => onMessage(ws, data, isBinary));
  ws.on('close', () => {
    clearInterval(ws.pinger);
    clearTimeout(ws.authTimer);
    if (!ws.user) return;
    unsubscribe(ws);
    const mine = sockets.get(ws.user.id);
    mine.delete(ws);
    if (mine.size === 0) sockets.delete(ws.user.id);
  });
});

setInterval(() => { // the seed's sweep of subscriptions with no ping for 5 minutes
  const cutoff = Date.now() - STALE_MS;
  for (const ws of wss.clients) if (ws.subscribed && masters.get(ws.user.masterId).lastPing < cutoff) unsubscribe(ws);
}, 60 * 1000);

if (env.BENCH_REDIS_URL) { // the benchmark's delivery trigger: not part of the seed
  require('./trigger').subscribe(env.BENCH_REDIS_URL, (userId, eventId, type, payload) => {
    const textFrame = JSON.stringify({ type, eventId, ...payload });
    for (const ws of sockets.get(userId) || []) if (ws.subscribed) ws.send(textFrame);
  });
}

process.on('SIGTERM', () => { // a restart: tell every socket, as uvicorn does (1012)
  for (const ws of wss.clients) ws.close(1012, 'server restarting');
  server.close();
  setTimeout(() => process.exit(0), 300);
});

server.listen(Number(env.PORT || 3000), env.HOST || '127.0.0.1', () => {
  log(`listening on ${env.HOST || '127.0.0.1'}:${env.PORT || 3000}; WebSocket server started on /ws`);
});
