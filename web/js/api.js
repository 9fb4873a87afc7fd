// The Web API over fetch: POST /api/<method>, form-encoded, the token as
// a Bearer header.  Answers {ok:false} and HTTP errors become ApiError.

export class ApiError extends Error {
  constructor(error, { status = 200, retryAfter = 0 } = {}) {
    super(error);
    this.error = error;
    this.status = status;
    this.retryAfter = retryAfter;
  }
}

export class Api {
  constructor(base = new URL('api/', document.baseURI).href) {
    this.base = base;
    this.token = null;
  }

  setToken(token) {
    this.token = token;
  }

  // Calls method with args (values become strings; objects JSON) and
  // resolves with the answer.  Rejects with ApiError: the Slack error
  // name, 'ratelimited' (retryAfter set), or 'network_error'.
  async call(method, args = {}, { timeout = 15000 } = {}) {
    const body = new URLSearchParams();
    for (const [k, v] of Object.entries(args)) {
      if (v === undefined || v === null)
        continue;
      body.set(k, typeof v === 'object' ? JSON.stringify(v) : String(v));
    }
    // The web client is a slim client: HAProxy's agent sends it to an
    // edge (docs/spoa.md, route).
    const headers = {
      'Content-Type': 'application/x-www-form-urlencoded',
      'X-Parley-Client': 'slim',
    };
    if (this.token)
      headers.Authorization = `Bearer ${this.token}`;
    let r;
    try {
      r = await fetch(this.base + method, {
        method: 'POST', headers, body,
        signal: AbortSignal.timeout(timeout),
      });
    } catch {
      throw new ApiError('network_error', { status: 0 });
    }
    if (r.status === 429)
      throw new ApiError('ratelimited', { status: 429,
        retryAfter: Number(r.headers.get('Retry-After')) || 1 });
    let json;
    try {
      json = await r.json();
    } catch {
      throw new ApiError(r.ok ? 'invalid_response' : `http_${r.status}`,
        { status: r.status });
    }
    if (!json.ok)
      throw new ApiError(json.error ?? 'unknown_error', { status: r.status });
    return json;
  }
}
