import { describe, expect, it } from 'vitest';
import { TurnBudget } from '../../../shared/scheduling/turn-budget.js';
import { waitFor } from '../../helpers/wait.js';

/** Busy-waits `ms` (a task that costs that much CPU). */
const spin = (ms: number): void => {
  const until = performance.now() + ms;
  while (performance.now() < until);
};

describe('TurnBudget', () => {
  it('when tasks fit the budget, then they run at once, in order', () => {
    const budget = new TurnBudget(50, () => {});
    const ran: number[] = [];
    for (let i = 0; i < 3; i++) budget.run(() => ran.push(i));
    expect(ran).toEqual([0, 1, 2]);
    expect(budget.waiting).toBe(0);
  });

  it('when a burst exceeds the budget, then the rest waits and runs over later turns, in order, with I/O between', async () => {
    const budget = new TurnBudget(5, () => {});
    const ran: number[] = [];
    const turns: number[] = [];
    let turn = 0;
    const ticker = setInterval(() => turn++, 0);
    for (let i = 0; i < 20; i++)
      budget.run(() => {
        spin(2);
        ran.push(i);
        turns.push(turn);
      });
    expect(ran.length).toBeLessThan(5); // 5 ms of budget: three tasks of 2 ms
    expect(budget.waiting).toBe(20 - ran.length);
    // A task arriving while others wait goes behind them.
    budget.run(() => ran.push(99));
    await waitFor(() => budget.waiting === 0, 'the queue to drain');
    clearInterval(ticker);
    expect(ran).toEqual([...Array.from({ length: 20 }, (_, i) => i), 99]);
    // Spread over several turns, a timer firing between them: no turn ran more than ~budget + one task.
    expect(new Set(turns).size).toBeGreaterThan(3);
  });

  it('when a task throws, then it throws to the caller if it ran at once, to onError if it waited, and the rest go on', async () => {
    const errors: unknown[] = [];
    const budget = new TurnBudget(1, (err) => errors.push(err));
    const ran: string[] = [];
    expect(() =>
      budget.run(() => {
        spin(2);
        throw new Error('at once');
      }),
    ).toThrow('at once');
    budget.run(() => {
      throw new Error('waited');
    });
    budget.run(() => ran.push('after'));
    await waitFor(() => ran.length === 1, 'the next task');
    expect(errors).toEqual([new Error('waited')]);
  });
});
