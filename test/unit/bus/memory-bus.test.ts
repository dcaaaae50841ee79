/**
 * The memory bus keeps the bus contract's failure rules (shared/bus/bus.ts): a handler that throws is
 * reported and its payload dropped, the other handlers still get theirs; a closed bus refuses with a
 * BusUnavailableError that carries its code and says a retry may succeed.
 */
import { describe, expect, it } from 'vitest';
import { BusUnavailableError } from '../../../shared/bus/bus.js';
import { MemoryBroker, MemoryBus } from '../../../shared/bus/memory-bus.js';
import { waitFor } from '../../helpers/wait.js';

describe('MemoryBus', () => {
  it('when a handler throws, then the error is reported, the payload dropped, and other nodes still receive', async () => {
    const broker = new MemoryBroker();
    const reported: unknown[] = [];
    const broken = new MemoryBus(broker, 'a', (err) => void reported.push(err));
    const healthy = new MemoryBus(broker, 'b');
    const received: string[] = [];
    await broken.start(() => {
      throw new Error('handler bug');
    });
    await healthy.start((payload) => void received.push(payload.toString()));
    await broken.publish(Buffer.from('m1'));
    await waitFor(() => received.length === 1 && reported.length === 1, 'the delivery and the report');
    expect(received).toEqual(['m1']);
    expect((reported[0] as Error).message).toBe('handler bug');
  });

  it('when closed, then publish refuses with a coded, temporary BusUnavailableError', async () => {
    const bus = new MemoryBus();
    await bus.close();
    const refused = await bus.publish(Buffer.from('x')).catch((err: unknown) => err);
    expect(refused).toBeInstanceOf(BusUnavailableError);
    expect(refused).toMatchObject({ code: 'bus_unavailable', temporary: true });
  });
});
