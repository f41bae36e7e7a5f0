'use strict';
// The benchmark's delivery trigger, not part of the seed: the peer hears the same Redis channel
// that dispatchwire's Redis broker carries events on, and pushes each event to its user's
// subscribed sockets. Messages are `{"node", "events": [[userId, eventId, type, payload, t]]}`.
// A minimal RESP reader (SUBSCRIBE replies are arrays of bulk strings), so the peer needs no
// Redis client package.
const net = require('node:net');

const CHANNEL = 'dispatchwire:events';

// Parse one RESP value at `pos`; null when the buffer does not hold all of it yet.
function parse(buf, pos) {
  const eol = buf.indexOf('\r\n', pos);
  if (eol < 0) return null;
  const kind = String.fromCharCode(buf[pos]);
  const head = buf.toString('latin1', pos + 1, eol);
  if (kind === '*') {
    const items = [];
    let at = eol + 2;
    for (let i = 0; i < Number(head); i++) {
      const item = parse(buf, at);
      if (!item) return null;
      items.push(item.value);
      at = item.end;
    }
    return { value: items, end: at };
  }
  if (kind === '$') {
    const end = eol + 2 + Number(head);
    if (buf.length < end + 2) return null;
    return { value: buf.subarray(eol + 2, end), end: end + 2 };
  }
  return { value: head, end: eol + 2 }; // +simple, :integer, -error
}

exports.subscribe = function subscribe(url, deliver) {
  const { hostname, port } = new URL(url);
  const socket = net.connect(Number(port || 6379), hostname || '127.0.0.1');
  socket.setNoDelay(true);
  let buf = Buffer.alloc(0);
  socket.on('connect', () => socket.write(`SUBSCRIBE ${CHANNEL}\r\n`));
  socket.on('data', (chunk) => {
    buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
    let pos = 0;
    for (let item = parse(buf, pos); item; item = parse(buf, pos)) {
      pos = item.end;
      const [kind, , data] = item.value;
      if (String(kind) !== 'message') continue;
      const message = JSON.parse(data);
      for (const [userId, eventId, type, payload] of message.events || []) deliver(userId, eventId, type, payload);
    }
    buf = buf.subarray(pos);
  });
  socket.on('error', (err) => console.error('bench trigger: redis', err.message));
};
