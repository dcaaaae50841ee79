/** The role contract suites run against the memory drivers (the embedded default). */
import { MemoryBroker, MemoryBus } from '../../../shared/bus/memory-bus.js';
import {
  MemoryChannelOffsets,
  MemoryNodeRegistry,
  MemoryOrderOwners,
  MemoryPresence,
  MemorySessionStore,
} from '../../../shared/state/memory/memory-state.js';
import { busContract } from '../../contracts/bus.contract.js';
import { channelOffsetsContract } from '../../contracts/channel-offsets.contract.js';
import { nodeRegistryContract } from '../../contracts/node-registry.contract.js';
import { orderOwnersContract } from '../../contracts/order-owners.contract.js';
import { presenceContract } from '../../contracts/presence.contract.js';
import { sessionStoreContract } from '../../contracts/session-store.contract.js';

busContract('memory (3 buses on one MemoryBroker)', () => {
  const broker = new MemoryBroker();
  const nodes = [new MemoryBus(broker), new MemoryBus(broker), new MemoryBus(broker)];
  return Promise.resolve({
    nodes,
    close: async () => {
      await Promise.all(nodes.map((node) => node.close()));
    },
  });
});

sessionStoreContract('memory', () => Promise.resolve(new MemorySessionStore()));
presenceContract('memory', () => Promise.resolve(new MemoryPresence()));
orderOwnersContract('memory', () => Promise.resolve(new MemoryOrderOwners()));
channelOffsetsContract('memory', () => Promise.resolve(new MemoryChannelOffsets()));
nodeRegistryContract('memory', () => Promise.resolve(new MemoryNodeRegistry()));
