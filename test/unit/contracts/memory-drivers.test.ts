/** The role contract suites run against the memory drivers (the embedded default). */
import { describe, expect, it } from 'vitest';
import { MemoryBroker, MemoryBus } from '../../../shared/bus/memory-bus.js';
import { MemoryHistory } from '../../../shared/state/memory/memory-history.js';
import { MemoryIdempotencyStore } from '../../../shared/state/memory/memory-idempotency.js';
import { MemoryReadPositions } from '../../../shared/state/memory/memory-read-positions.js';
import {
  MemoryNodeRegistry,
  MemoryOrderOwners,
  MemoryPresence,
  MemorySessionStore,
} from '../../../shared/state/memory/memory-state.js';
import { busContract } from '../../contracts/bus.contract.js';
import { historyContract } from '../../contracts/history.contract.js';
import { idempotencyContract } from '../../contracts/idempotency.contract.js';
import { nodeRegistryContract } from '../../contracts/node-registry.contract.js';
import { orderOwnersContract } from '../../contracts/order-owners.contract.js';
import { presenceContract } from '../../contracts/presence.contract.js';
import { readPositionsContract } from '../../contracts/read-positions.contract.js';
import { sessionStoreContract } from '../../contracts/session-store.contract.js';
import {
  WEBHOOK_CONTRACT_MAX_PENDING,
  webhookOutboxContract,
} from '../../contracts/webhook-outbox.contract.js';
import { MemoryWebhookOutbox } from '../../../shared/state/memory/memory-webhook-outbox.js';

busContract('memory (3 buses on one MemoryBroker)', () => {
  const broker = new MemoryBroker();
  const ids = ['n1', 'n2', 'n3'];
  const nodes = ids.map((id) => new MemoryBus(broker, id));
  return Promise.resolve({
    nodes,
    ids,
    close: async () => {
      await Promise.all(nodes.map((node) => node.close()));
    },
  });
});

sessionStoreContract('memory', () => Promise.resolve(new MemorySessionStore()));
presenceContract('memory', () => Promise.resolve(new MemoryPresence()));
orderOwnersContract('memory', () => Promise.resolve(new MemoryOrderOwners()));
nodeRegistryContract('memory', () => Promise.resolve(new MemoryNodeRegistry()));
idempotencyContract('memory', () => Promise.resolve(new MemoryIdempotencyStore()));
historyContract('memory', (retention) => Promise.resolve(new MemoryHistory(retention)));
readPositionsContract('memory', () => Promise.resolve(new MemoryReadPositions()));
webhookOutboxContract('memory', () => Promise.resolve(new MemoryWebhookOutbox(WEBHOOK_CONTRACT_MAX_PENDING)));

describe('MemoryHistory', () => {
  it('when channels stay idle for maxAgeMs, then the sweep drops them while channels in use stay, and a dropped one restarts on a new epoch', async () => {
    let now = 1_000_000;
    const history = new MemoryHistory(() => ({ maxMessages: 3, maxAgeMs: 1_000 }), { now: () => now });
    const message = () => ({ id: 'm', event: 'e', dataJson: '{}', ts: now });
    try {
      const idle = await history.append('user:idle', message());
      await history.append('user:busy', message());
      now += 999;
      await history.append('user:busy', message());
      await history.position('user:idle'); // reading does not keep a channel
      now += 1;

      history.sweep();

      expect(history.size).toBe(1);
      expect(await history.position('user:busy')).toMatchObject({ offset: 2 });
      const fresh = await history.position('user:idle');
      expect(fresh.offset).toBe(0);
      expect(fresh.epoch).not.toBe(idle.epoch);
      expect(history.size).toBe(2);
    } finally {
      await history.close();
    }
  });
});
