/**
 * ReadPositions in memory (the embedded default, and what unit tests run on), with the semantics of
 * the Redis driver (test/contracts/read-positions.contract.ts): per user, a map channel → position
 * that expires `ttlSeconds` after the user's last advance.
 */
import {
  checkAdvance,
  type AdvanceResult,
  type ReadPosition,
  type ReadPositions,
} from '../read-positions.js';
import { ExpiringMap } from './expiring-map.js';

export class MemoryReadPositions implements ReadPositions {
  private readonly users = new ExpiringMap<string, Map<string, ReadPosition>>();

  advance(
    userId: string,
    channel: string,
    position: ReadPosition,
    ttlSeconds: number,
  ): Promise<AdvanceResult> {
    try {
      checkAdvance(position, ttlSeconds);
    } catch (err) {
      return Promise.reject(err instanceof Error ? err : new TypeError(String(err)));
    }
    let channels = this.users.get(userId);
    if (channels === undefined) channels = new Map();
    this.users.set(userId, channels, ttlSeconds);
    const recorded = channels.get(channel);
    if (recorded !== undefined && recorded.epoch === position.epoch && recorded.offset >= position.offset)
      return Promise.resolve({ position: { ...recorded }, moved: false });
    channels.set(channel, { offset: position.offset, epoch: position.epoch });
    return Promise.resolve({ position: { offset: position.offset, epoch: position.epoch }, moved: true });
  }

  get(userId: string, channel: string): Promise<ReadPosition | undefined> {
    const recorded = this.users.get(userId)?.get(channel);
    return Promise.resolve(recorded === undefined ? undefined : { ...recorded });
  }

  list(userId: string): Promise<Map<string, ReadPosition>> {
    const channels = this.users.get(userId);
    return Promise.resolve(
      new Map([...(channels ?? [])].map(([channel, position]) => [channel, { ...position }])),
    );
  }

  close(): Promise<void> {
    this.users.close();
    return Promise.resolve();
  }
}
