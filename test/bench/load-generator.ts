/**
 * The load generator: its own process, driven by the orchestrator (run.ts) over IPC. One generator per
 * system and round, the same program for Herald and Socket.IO: raw WebSocket clients on its own minimal
 * client (clients/wire.ts, no SDK), a bounded number of handshakes in flight, a receive path that counts
 * deliveries from their bytes.
 */
import { mintToken } from '../helpers/tokens.js';
import { BenchClient, type Protocol, type FleetHooks } from './clients/client.js';
import { Fleet } from './clients/fleet.js';
import { HeraldProtocol } from './clients/herald.js';
import { SocketIoProtocol } from './clients/socketio.js';
import { Tally } from './clients/tally.js';
import { GENERATOR_PROTOCOL, type Command, type Envelope, type Event } from './generator-protocol.js';

const emit = (event: Event): void => void process.send?.(event);
let fleet: Fleet | undefined;

async function handle(command: Command): Promise<unknown> {
  switch (command.kind) {
    case 'connect': {
      const herald = command.system === 'herald';
      // Tokens are minted before the clock starts (the backend would hand them out beforehand).
      const tokens = herald
        ? await Promise.all(
            Array.from({ length: command.clients }, (_, i) => mintToken(`bench-${i}`, { expiresIn: '2h' })),
          )
        : [];
      const clients = Array.from(
        { length: command.clients },
        (_, i) => new BenchClient(i, `bench-${i}`, tokens[i] ?? ''),
      );
      const tally = new Tally(command.clients);
      tally.onDone = (phase, at) => emit({ kind: 'done', phase, at });
      const protocol = (hooks: FleetHooks): Protocol =>
        herald ? new HeraldProtocol(hooks) : new SocketIoProtocol(hooks);
      fleet = new Fleet(clients, tally, protocol, command.handshakes);
      fleet.onFatal = (message) => emit({ kind: 'error', message });
      // The generator's own CPU over the clocked part (all its threads), tokens already minted.
      const cpuBefore = process.cpuUsage();
      const ms = await fleet.connectAll(command.urls);
      const cpu = process.cpuUsage(cpuBefore);
      return { ms, cpuMs: (cpu.user + cpu.system) / 1000 };
    }
    case 'arm':
      need().tally.arm(command);
      return {};
    case 'progress':
      return need().tally.progress(command.final);
    case 'counters': {
      const f = need();
      return { ...f.counters, ready: f.readyCount() };
    }
    case 'storm': {
      const expected = need().armStorm(command.deadUrl, command.liveUrls, (at, clients) =>
        emit({ kind: 'storm-done', at, clients }),
      );
      return { expected };
    }
    case 'close-all':
      need().closeAll();
      return {};
  }
}

function need(): Fleet {
  if (!fleet) throw new Error('not connected');
  return fleet;
}

process.on('message', (envelope: Envelope) => {
  handle(envelope.command).then(
    (body) => emit({ kind: 'reply', re: envelope.id, body }),
    (err: unknown) => emit({ kind: 'error', message: `${envelope.command.kind}: ${String(err)}` }),
  );
});
// The orchestrator went away (finished or crashed): nothing left to do.
process.on('disconnect', () => process.exit(0));
emit({ kind: 'hello', version: GENERATOR_PROTOCOL });
