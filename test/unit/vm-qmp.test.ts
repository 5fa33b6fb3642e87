import { expect } from 'chai';
import { promises as fs } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { LineDecoder, parseQmpLine, QmpClient, QmpCommandError, QmpConnectionError } from '../../vm/qmp.js';

describe('vm/qmp parsing', () => {
  it('classifies greeting, return, error and event lines', () => {
    expect(parseQmpLine('{"QMP": {"version": {"qemu": {"major": 7}}, "capabilities": ["oob"]}}').kind).to.equal('greeting');
    expect(parseQmpLine('{"return": {}, "id": "bp-1"}')).to.deep.equal({ kind: 'return', id: 'bp-1', value: {} });
    expect(parseQmpLine('{"error": {"class": "CommandNotFound", "desc": "nope"}, "id": "bp-2"}')).to.deep.equal({
      kind: 'error',
      id: 'bp-2',
      errorClass: 'CommandNotFound',
      desc: 'nope',
    });
    const ev = parseQmpLine('{"timestamp": {"seconds": 1, "microseconds": 2}, "event": "SHUTDOWN", "data": {"guest": true, "reason": "guest-reset"}}');
    expect(ev).to.deep.equal({
      kind: 'event',
      event: { event: 'SHUTDOWN', data: { guest: true, reason: 'guest-reset' }, timestamp: { seconds: 1, microseconds: 2 } },
    });
    expect(() => parseQmpLine('{not json')).to.throw();
  });

  it('splits a stream into lines across chunk boundaries', () => {
    const d = new LineDecoder();
    expect(d.push('{"a":')).to.deep.equal([]);
    expect(d.push('1}\r\n{"b":2}\n{"c"')).to.deep.equal(['{"a":1}', '{"b":2}']);
    expect(d.push(':3}\n')).to.deep.equal(['{"c":3}']);
  });
});

describe('vm/qmp client (against a scripted QMP server)', () => {
  let dir: string;
  let server: net.Server;
  let serverSide: net.Socket | null;

  beforeEach(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'bootpath-qmp-'));
    serverSide = null;
    server = net.createServer((sock) => {
      serverSide = sock;
      sock.write('{"QMP": {"version": {}, "capabilities": []}}\n');
      const dec = new LineDecoder();
      sock.on('data', (chunk) => {
        for (const line of dec.push(chunk.toString())) {
          const msg = JSON.parse(line) as { execute: string; id: string };
          if (msg.execute === 'qmp_capabilities') sock.write(`{"return": {}, "id": "${msg.id}"}\n`);
          if (msg.execute === 'query-status') {
            sock.write('{"event": "RESET", "data": {"guest": false, "reason": "host-qmp-system-reset"}}\n');
            sock.write(`{"return": {"status": "running", "running": true}, "id": "${msg.id}"}\n`);
          }
          if (msg.execute === 'bogus') sock.write(`{"error": {"class": "CommandNotFound", "desc": "The command bogus has not been found"}, "id": "${msg.id}"}\n`);
          // 'hang' gets no answer; 'die' closes the connection
          if (msg.execute === 'die') sock.destroy();
        }
      });
    });
    await new Promise<void>((r) => server.listen(path.join(dir, 'qmp.sock'), r));
  });

  afterEach(async () => {
    serverSide?.destroy();
    await new Promise<void>((r) => server.close(() => r()));
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('negotiates, executes with ids, delivers events and maps errors', async () => {
    const qmp = await QmpClient.connectPath(path.join(dir, 'qmp.sock'));
    const events: string[] = [];
    qmp.onEvent((e) => events.push(e.event));
    expect(await qmp.queryStatus()).to.deep.equal({ status: 'running', running: true });
    expect(events).to.deep.equal(['RESET']);
    const err = await qmp.execute('bogus').catch((e: unknown) => e);
    expect(err).to.be.instanceOf(QmpCommandError);
    expect((err as QmpCommandError).errorClass).to.equal('CommandNotFound');
    qmp.close();
  });

  it('times out a command that gets no answer', async () => {
    const qmp = await QmpClient.connectPath(path.join(dir, 'qmp.sock'));
    const err = await qmp.execute('hang', undefined, { timeoutMs: 100 }).catch((e: unknown) => e);
    expect(err).to.be.instanceOf(QmpConnectionError);
    expect((err as Error).message).to.match(/hang got no answer within 100 ms/);
    qmp.close();
  });

  it('rejects pending commands when the connection closes', async () => {
    const qmp = await QmpClient.connectPath(path.join(dir, 'qmp.sock'));
    const pending = qmp.execute('hang', undefined, { timeoutMs: 10_000 });
    const err = await Promise.all([pending.catch((e: unknown) => e), qmp.execute('die').catch(() => undefined)]).then(([e]) => e);
    expect(err).to.be.instanceOf(QmpConnectionError);
    expect((err as Error).message).to.match(/closed.*before QMP hang was answered/);
    await qmp.closed;
    const after = await qmp.execute('query-status').catch((e: unknown) => e);
    expect((after as Error).message).to.match(/cannot send QMP query-status/);
  });
});
