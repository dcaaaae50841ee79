import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { Outlet, WriteScheduler, type OutletOwner } from '../../../../services/gateway/fanout/outlet.js';
import { waitFor } from '../../../helpers/wait.js';

/** The parts of a net.Socket and a ws WebSocket an outlet touches. */
class FakeSocket extends EventEmitter {
  readonly writes: string[] = [];
  writableLength = 0;
  write(data: Buffer): boolean {
    this.writes.push(data.toString());
    return true;
  }
}

function outlet(scheduler: WriteScheduler, owner: OutletOwner = { overflowed: () => {} }) {
  const socket = new FakeSocket();
  const ws = { readyState: WebSocket.OPEN as number, _socket: socket, bufferedAmount: 0 };
  Object.defineProperty(ws, 'bufferedAmount', { get: () => socket.writableLength });
  return { socket, ws, outlet: new Outlet(ws, scheduler, owner) };
}

const frame = (text: string): Buffer => Buffer.from(text);
const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** Takes the scheduler's write-at-once budget of this turn, so pushes queue as on a busy node. */
function busy(scheduler: WriteScheduler): void {
  while (scheduler.writeAtOnce());
}

describe('Outlet and WriteScheduler', () => {
  it('when one frame arrives on an idle node, then it is written at once', () => {
    const scheduler = new WriteScheduler(1 << 20);
    const { socket, outlet: o } = outlet(scheduler);
    o.push(frame('a'), 0);
    expect(socket.writes).toEqual(['a']);
  });

  it('when a burst arrives for one socket on an idle node, then the first goes at once and the rest in one write, in order', async () => {
    const scheduler = new WriteScheduler(1 << 20);
    const { socket, outlet: o } = outlet(scheduler);
    for (const text of ['a', 'b', 'c']) o.push(frame(text), 0);
    expect(socket.writes).toEqual(['a']);
    await nextTurn();
    expect(socket.writes).toEqual(['a', 'bc']);
    expect([scheduler.writes, scheduler.frames]).toEqual([2, 3]);
  });

  it('when a broadcast arrives on an idle node, then the first sockets are written at once and the rest are queued for the turn’s end', async () => {
    const scheduler = new WriteScheduler(1 << 20);
    const outlets = Array.from({ length: 40 }, () => outlet(scheduler));
    for (const { outlet: o } of outlets) o.push(frame('A'), 0);
    const atOnce = outlets.filter(({ socket }) => socket.writes.length === 1).length;
    expect(atOnce).toBeGreaterThan(0);
    expect(atOnce).toBeLessThan(40);
    await nextTurn();
    expect(outlets.every(({ socket }) => socket.writes.join('') === 'A')).toBe(true);
  });

  it('when an outlet is corked, then its frames wait, and uncork writes them in one write: at once on an idle node, with the round on a busy one', async () => {
    const scheduler = new WriteScheduler(1 << 20);
    const idle = outlet(scheduler);
    idle.outlet.cork();
    for (const text of ['w', 's1', 's2']) idle.outlet.push(frame(text), 0);
    expect(idle.socket.writes).toEqual([]);
    idle.outlet.uncork();
    expect(idle.socket.writes).toEqual(['ws1s2']);
    idle.outlet.uncork(); // not corked: nothing more
    expect(idle.socket.writes).toEqual(['ws1s2']);

    busy(scheduler);
    const queued = outlet(scheduler);
    queued.outlet.cork();
    for (const text of ['w', 's']) queued.outlet.push(frame(text), 0);
    queued.outlet.uncork();
    expect(queued.socket.writes).toEqual([]);
    queued.outlet.push(frame('m'), 0);
    await nextTurn();
    expect(queued.socket.writes).toEqual(['wsm']);
  });

  it('when a queued outlet is corked, then its frames still leave with the round, in order', async () => {
    const scheduler = new WriteScheduler(1 << 20);
    busy(scheduler);
    const { socket, outlet: o } = outlet(scheduler);
    o.push(frame('a'), 0);
    o.cork();
    o.push(frame('b'), 0);
    await nextTurn();
    expect(socket.writes).toEqual(['ab']);
    o.uncork();
    expect(socket.writes).toEqual(['ab']);
  });

  it('when frames arrive in one turn on a busy node, then they leave in one write per socket, in order', async () => {
    const scheduler = new WriteScheduler(1 << 20);
    busy(scheduler);
    const { socket, outlet: o } = outlet(scheduler);
    for (const text of ['a', 'b', 'c']) o.push(frame(text), 0);
    expect(socket.writes).toEqual([]);
    await nextTurn();
    expect(socket.writes).toEqual(['abc']);
  });

  it('when frames arrive while a round is still writing, then sockets not yet written carry both in one write', async () => {
    // sliceMs 0: every slice ends after 64 outlets, as a busy node's would after its time budget.
    const scheduler = new WriteScheduler(1 << 20, 0);
    busy(scheduler);
    const outlets = Array.from({ length: 256 }, () => outlet(scheduler));
    for (const { outlet: o } of outlets) o.push(frame('A'), 0);
    await nextTurn(); // the first slice wrote 64 sockets
    for (const { outlet: o } of outlets) o.push(frame('B'), 0);
    await waitFor(() => outlets.every(({ socket }) => socket.writes.join('') === 'AB'), 'every socket');
    expect(outlets.slice(0, 64).every(({ socket }) => socket.writes.length === 2)).toBe(true);
    expect(outlets.slice(64).every(({ socket }) => socket.writes.length === 1)).toBe(true);
    expect(scheduler.writes).toBe(64 * 2 + 192);
    expect(scheduler.slices).toBeGreaterThan(3);
  });

  it('when a channel kind allows a delay, then its frame waits for company but no longer than the delay', async () => {
    const scheduler = new WriteScheduler(1 << 20);
    const { socket, outlet: o } = outlet(scheduler);
    const started = performance.now();
    o.push(frame('p1'), 30);
    await nextTurn();
    expect(socket.writes).toEqual([]);
    o.push(frame('p2'), 30);
    await waitFor(() => socket.writes.length === 1, 'the delayed write');
    expect(socket.writes).toEqual(['p1p2']);
    expect(performance.now() - started).toBeGreaterThanOrEqual(25);
  });

  it('when an undelayed frame arrives while delayed ones wait, then they all go out in that turn', async () => {
    const scheduler = new WriteScheduler(1 << 20);
    const a = outlet(scheduler);
    const b = outlet(scheduler);
    a.outlet.push(frame('promo'), 10_000);
    b.outlet.push(frame('order'), 0);
    await nextTurn();
    expect(a.socket.writes).toEqual(['promo']);
    expect(b.socket.writes).toEqual(['order']);
  });

  it('when unsent bytes (pending plus socket buffer) exceed the budget, then the owner is told', () => {
    let overflowed = 0;
    const scheduler = new WriteScheduler(10);
    busy(scheduler);
    const { socket, outlet: o } = outlet(scheduler, { overflowed: () => overflowed++ });
    o.push(frame('12345'), 0);
    expect(overflowed).toBe(0);
    socket.writableLength = 6;
    o.push(frame('x'), 0);
    expect(overflowed).toBe(1);
    expect(o.backlog).toBe(12);
  });

  it('when the outlet is closed, then with flushFirst what was pending is written at once, and nothing after', async () => {
    const scheduler = new WriteScheduler(1 << 20);
    busy(scheduler);
    const flushed = outlet(scheduler);
    flushed.outlet.push(frame('bye'), 0);
    expect(flushed.socket.writes).toEqual([]);
    flushed.outlet.close(true);
    expect(flushed.socket.writes).toEqual(['bye']);
    flushed.outlet.push(frame('late'), 0);
    const dropped = outlet(scheduler);
    dropped.outlet.push(frame('lost'), 0);
    dropped.outlet.close(false);
    await nextTurn();
    expect(flushed.socket.writes).toEqual(['bye']);
    expect(dropped.socket.writes).toEqual([]);
  });

  it('when the WebSocket is no longer open, then nothing is written', async () => {
    const scheduler = new WriteScheduler(1 << 20);
    const { socket, ws, outlet: o } = outlet(scheduler);
    ws.readyState = WebSocket.CLOSING;
    o.push(frame('a'), 0);
    busy(scheduler);
    o.push(frame('b'), 0);
    await nextTurn();
    expect(socket.writes).toEqual([]);
  });

  it('when drain is awaited, then pending frames are written and it resolves once the socket drained', async () => {
    const scheduler = new WriteScheduler(1 << 20);
    busy(scheduler);
    const { socket, outlet: o } = outlet(scheduler);
    await o.drain(1_000); // nothing buffered: at once
    o.push(frame('a'), 0);
    socket.writableLength = 100;
    let drained = false;
    const waiting = o.drain(10_000).then(() => (drained = true));
    expect(socket.writes).toEqual(['a']);
    await nextTurn();
    expect(drained).toBe(false);
    socket.writableLength = 0;
    socket.emit('drain');
    await waiting;
    expect(drained).toBe(true);
  });
});
