// Shared by the faults-*.test.mjs files: an RTM client that connects
// again with resume whenever its connection closes, and checks as it
// goes that numbered events come without repeat.
import { RawClient, sleep } from './rtm-lib.mjs';
import { call } from './security-lib.mjs';

export class Listener {
  // base: the server's HTTP root (HAProxy, a backend or an edge).
  constructor(base, token) {
    this.base = base;
    this.token = token;
    this.events = [];
    this.reconnects = 0;
    this.stopped = false;
  }

  // rtm.connect (with the epoch and seq last seen, once there are some)
  // and the WebSocket, tried again for a while when the server is away.
  async connect() {
    for (let i = 0; i < 400 && !this.stopped; i++) {
      const args = this.epoch ? { parley_epoch: this.epoch,
        parley_seq: String(this.seq) } : {};
      try {
        const r = await call(this.base, 'rtm.connect', this.token, args);
        if (r.json?.ok) {
          const c = new RawClient(r.json.url);
          this.watch(c);
          await c.opened;
          this.c = c;
          return;
        }
      } catch { /* the server is away: again */ }
      await sleep(50);
    }
  }

  watch(c) {
    const push = c.msgs.push.bind(c.msgs);
    c.msgs.push = (m) => {
      if (m.type === 'hello') {
        if (this.epoch && m.epoch !== this.epoch)
          this.failed = 'epoch changed';
        this.epoch = m.epoch;
        this.seq ??= 0;
      } else if (m.type === 'resume_failed') {
        this.failed = JSON.stringify(m);
      } else if (m.seq !== undefined) {
        if (m.seq <= this.seq)
          this.failed = `seq ${m.seq} again after ${this.seq}`;
        this.seq = m.seq;
        if (m.type === 'message')
          this.events.push(m);
      }
      return push(m);
    };
    c.ws.on('close', () => {
      if (this.stopped || c !== this.c)
        return;
      this.reconnects++;
      this.connect();
    });
  }

  // Drops the connection as a network blip would; the listener then
  // connects again with its epoch and seq.
  drop() {
    this.c?.ws.terminate();
  }

  close() {
    this.stopped = true;
    this.c?.close();
  }
}
