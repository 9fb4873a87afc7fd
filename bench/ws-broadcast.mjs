// The `ws` comparator of the fan-out benchmarks: a WebSocket broadcast
// server on the npm `ws` package, speaking what parley-wstest speaks.
//
//   node bench/ws-broadcast.mjs [port]      (0 or none: a free port)
//
// Prints "listening on 127.0.0.1:PORT".  A text message starting with
// 'B' goes to every connection of the sender's group as one frame
// serialised once (Sender.frame, then one write of the same
// bytes to each socket);
// any other message is echoed.  The group is the number after a final
// "c" of the path (/c12 is group 12), 0 otherwise.  Compression is off.
// GET /stats answers {"ws":N,"heap":BYTES,"rss":BYTES}.
import http from 'node:http';
import { WebSocketServer, WebSocket, Sender } from 'ws';

const port = Number(process.argv[2] || 0);
const groups = new Map();

function groupOf(url) {
  const m = /c(\d+)$/.exec(url || '');
  return m ? Number(m[1]) : 0;
}

const server = http.createServer((req, res) => {
  if (req.url === '/stats') {
    const mem = process.memoryUsage();
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ ws: wss.clients.size, heap: mem.heapUsed + mem.external + mem.arrayBuffers, rss: mem.rss }));
    return;
  }
  res.writeHead(404);
  res.end();
});

const wss = new WebSocketServer({ server, perMessageDeflate: false, clientTracking: true, maxPayload: 1 << 20 });

wss.on('connection', (ws, req) => {
  const g = groupOf(req.url);
  let set = groups.get(g);
  if (!set) {
    set = new Set();
    groups.set(g, set);
  }
  set.add(ws);
  ws.on('message', (data, isBinary) => {
    if (!isBinary && data.length > 0 && data[0] === 0x42) {
      // One encoding for every recipient.
      const frame = Buffer.concat(Sender.frame(data, {
        readOnly: true, mask: false, rsv1: false, opcode: 1, fin: true,
      }));
      for (const peer of set) {
        if (peer.readyState === WebSocket.OPEN) peer._socket.write(frame);
      }
      return;
    }
    ws.send(data, { binary: isBinary });
  });
  ws.on('close', () => {
    set.delete(ws);
  });
  ws.on('error', () => {});
});

server.listen(port, '127.0.0.1', () => {
  console.log(`listening on 127.0.0.1:${server.address().port}`);
});

for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    for (const ws of wss.clients) ws.terminate();
    server.close();
    process.exit(0);
  });
}
