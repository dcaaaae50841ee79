import { describe, expect, it } from 'vitest';
import { Deadlines } from '../../../shared/scheduling/deadlines.js';
import { waitFor } from '../../helpers/wait.js';

const fail = (err: unknown): never => {
  throw err;
};

describe('Deadlines', () => {
  it('when items are due, then each is handed over once, never early, and the timer stops when none wait', async () => {
    const due: [string, number][] = [];
    const deadlines = new Deadlines<string>(20, (item) => due.push([item, Date.now()]), fail);
    const start = Date.now();
    deadlines.add('late', start + 120);
    deadlines.add('soon', start + 40);
    expect(deadlines.size).toBe(2);
    await waitFor(() => due.length === 2, 'both deadlines');
    expect(due.map(([item]) => item)).toEqual(['soon', 'late']);
    expect(due[0]![1]).toBeGreaterThanOrEqual(start + 40);
    expect(due[1]![1]).toBeGreaterThanOrEqual(start + 120);
    expect(deadlines.size).toBe(0);
  });

  it('when an item is deleted before its time, then it is never handed over', async () => {
    const due: string[] = [];
    const deadlines = new Deadlines<string>(10, (item) => due.push(item), fail);
    const at = Date.now() + 30;
    deadlines.add('kept', at);
    deadlines.add('dropped', at);
    deadlines.delete('dropped', at);
    await waitFor(() => due.length === 1, 'the kept deadline');
    expect(due).toEqual(['kept']);
  });

  it('when stopped, then nothing waits and nothing is handed over', async () => {
    const due: string[] = [];
    const deadlines = new Deadlines<string>(10, (item) => due.push(item), fail);
    deadlines.add('x', Date.now() + 20);
    deadlines.stop();
    expect(deadlines.size).toBe(0);
    const probe = new Deadlines<string>(10, (item) => due.push(item), fail);
    probe.add('probe', Date.now() + 40);
    await waitFor(() => due.length === 1, 'a later deadline on another timer');
    expect(due).toEqual(['probe']);
  });

  it('when handing an item over throws, then the error is reported and the other items due are still handed over', async () => {
    const due: string[] = [];
    const errors: unknown[] = [];
    const deadlines = new Deadlines<string>(
      10,
      (item) => {
        if (item === 'bad') throw new Error('boom');
        due.push(item);
      },
      (err) => errors.push(err),
    );
    const at = Date.now() + 20;
    deadlines.add('bad', at);
    deadlines.add('good', at);
    await waitFor(() => due.length === 1, 'the good item');
    expect(due).toEqual(['good']);
    expect(errors).toEqual([new Error('boom')]);
  });
});
