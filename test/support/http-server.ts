/**
 * A real HTTP file server on 127.0.0.1 for image-download tests: serves files under a directory,
 * answers Range requests with 206 (or ignores them, to test the 200 fallback), can cut a response
 * after N bytes (to test resume), can delay responses, and logs every request.
 */
import { createReadStream, promises as fs } from 'node:fs';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import path from 'node:path';

export interface LoggedRequest {
  method: string;
  path: string;
  range?: string;
  status: number;
}

export interface TestHttpServer {
  /** http://127.0.0.1:PORT (no trailing slash). */
  readonly url: string;
  readonly requests: LoggedRequest[];
  /** false: ignore Range headers and always answer 200 with the whole file. */
  rangeEnabled: boolean;
  /** Delay before answering requests for paths matching this (ms); 0 for none. */
  delay: { match: RegExp; ms: number } | null;
  /** Cut the connection after `bytes` body bytes of the next response for `urlPath` (once). */
  cutNext(urlPath: string, bytes: number): void;
  /** Requests whose path ends with `suffix`. */
  requestsFor(suffix: string): LoggedRequest[];
  close(): Promise<void>;
}

export async function startHttpServer(root: string): Promise<TestHttpServer> {
  const requests: LoggedRequest[] = [];
  const cuts = new Map<string, number>();
  const sockets = new Set<Socket>();
  const state: { rangeEnabled: boolean; delay: TestHttpServer['delay'] } = { rangeEnabled: true, delay: null };

  const server = http.createServer((req, res) => {
    void handle(req, res);
  });

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const urlPath = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    const logged: LoggedRequest = { method: req.method ?? 'GET', path: urlPath, range: req.headers.range, status: 0 };
    requests.push(logged);
    if (state.delay && state.delay.match.test(urlPath)) await new Promise((r) => setTimeout(r, state.delay?.ms ?? 0));
    const file = path.join(root, path.normalize(urlPath));
    let size: number;
    try {
      const st = await fs.stat(file);
      if (!file.startsWith(root) || !st.isFile()) throw new Error('not a file');
      size = st.size;
    } catch {
      logged.status = 404;
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    let start = 0;
    let end = size - 1;
    const m = state.rangeEnabled && req.headers.range ? /^bytes=(\d+)-(\d*)$/.exec(req.headers.range) : null;
    if (m) {
      start = Number(m[1]);
      if (m[2]) end = Math.min(end, Number(m[2]));
      if (start >= size) {
        logged.status = 416;
        res.writeHead(416, { 'content-range': `bytes */${size}` }).end();
        return;
      }
      logged.status = 206;
      res.writeHead(206, { 'content-length': String(end - start + 1), 'content-range': `bytes ${start}-${end}/${size}`, 'accept-ranges': 'bytes' });
    } else {
      logged.status = 200;
      res.writeHead(200, { 'content-length': String(size), ...(state.rangeEnabled ? { 'accept-ranges': 'bytes' } : {}) });
    }
    if (req.method === 'HEAD') {
      res.end();
      return;
    }
    const cut = cuts.get(urlPath);
    if (cut !== undefined) {
      cuts.delete(urlPath);
      // Send exactly `cut` bytes, then drop the connection mid-body.
      const head = Buffer.alloc(Math.min(cut, end - start + 1));
      const fh = await fs.open(file, 'r');
      try {
        await fh.read(head, 0, head.length, start);
      } finally {
        await fh.close();
      }
      res.write(head, () => setTimeout(() => res.socket?.destroy(), 50));
      return;
    }
    createReadStream(file, { start, end }).pipe(res);
  }

  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    get rangeEnabled() {
      return state.rangeEnabled;
    },
    set rangeEnabled(v: boolean) {
      state.rangeEnabled = v;
    },
    get delay() {
      return state.delay;
    },
    set delay(v) {
      state.delay = v;
    },
    cutNext: (urlPath, bytes) => cuts.set(urlPath, bytes),
    requestsFor: (suffix) => requests.filter((r) => r.path.endsWith(suffix)),
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
