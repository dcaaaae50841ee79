/**
 * Errors that cross a contract carry a stable code and a retry flag (shared/core/contract-errors.ts),
 * the drivers reject with them where their contracts say, and the REST API still answers them as
 * before: 503 with the same code for the temporary `*_unavailable` ones, 500 internal for the others.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiError, ApiErrors } from '../../../services/api/errors.js';
import { createMemoryDrivers, type Drivers } from '../../../services/node/drivers.js';
import { BusUnavailableError } from '../../../shared/bus/bus.js';
import { MemoryBus } from '../../../shared/bus/memory-bus.js';
import {
  InvalidArgumentError,
  isContractError,
  MalformedReplyError,
} from '../../../shared/core/contract-errors.js';
import { MemoryHistory } from '../../../shared/state/memory/memory-history.js';
import { MemoryReadPositions } from '../../../shared/state/memory/memory-read-positions.js';
import { redisKeys } from '../../../shared/state/redis/keys.js';
import { ttlMs } from '../../../shared/state/redis/redis-connection.js';
import { asArray, asInteger, asString } from '../../../shared/state/redis/replies.js';
import { StateUnavailableError } from '../../../shared/state/state-unavailable-error.js';
import { injector } from '../../helpers/rest-inject.js';
import { PUBLISH_ONLY, startTestNode, type TestNode } from '../../helpers/test-node.js';

const retention = () => ({ maxMessages: 10, maxAgeMs: 60_000 });
const message = { id: 'm', event: 'e', dataJson: '1', ts: 1 };

describe('contract errors: code and retry flag', () => {
  it.each([
    [new StateUnavailableError(), 'state_unavailable', true],
    [new BusUnavailableError(), 'bus_unavailable', true],
    [new InvalidArgumentError('bad'), 'invalid_argument', false],
    [new MalformedReplyError('odd'), 'malformed_reply', false],
  ] as const)('when %s is made, then it carries code %s and temporary %s', (err, code, temporary) => {
    expect(err.code).toBe(code);
    expect(err.temporary).toBe(temporary);
    expect(isContractError(err)).toBe(true);
    expect(err).toBeInstanceOf(Error);
  });

  it('when an argument is refused, then the error is still a TypeError, named for what it is', () => {
    const err = new InvalidArgumentError('after must be a non-negative integer');
    expect(err).toBeInstanceOf(TypeError);
    expect(err.name).toBe('InvalidArgumentError');
    expect(new MalformedReplyError('x').name).toBe('MalformedReplyError');
  });

  it('when an error has no code or no flag, then it is not a contract error', () => {
    expect(isContractError(new Error('plain'))).toBe(false);
    expect(isContractError(new TypeError('plain'))).toBe(false);
    expect(isContractError(Object.assign(new Error('half'), { code: 'x' }))).toBe(false);
    expect(isContractError({ code: 'x', temporary: true })).toBe(false);
  });
});

describe('contract errors: where the drivers reject with them', () => {
  it('when history is asked for a range that names no offsets, or given a bad message or dedupe, then it rejects with InvalidArgumentError', async () => {
    const history = new MemoryHistory(retention);
    try {
      await expect(history.read('user:1', -1, 10)).rejects.toBeInstanceOf(InvalidArgumentError);
      await expect(history.read('user:1', 0, 0)).rejects.toMatchObject({ temporary: false });
      await expect(history.append('user:1', { ...message, ts: 1.5 })).rejects.toBeInstanceOf(
        InvalidArgumentError,
      );
      await expect(history.append('user:1', message, { key: '', ttlSeconds: 1 })).rejects.toMatchObject({
        code: 'invalid_argument',
      });
    } finally {
      await history.close();
    }
  });

  it('when a read position is bad, then advance rejects with InvalidArgumentError', async () => {
    const reads = new MemoryReadPositions();
    try {
      await expect(reads.advance('u', 'user:u', { offset: -1, epoch: 'e' }, 60)).rejects.toBeInstanceOf(
        InvalidArgumentError,
      );
      await expect(reads.advance('u', 'user:u', { offset: 1, epoch: 'e' }, 0)).rejects.toMatchObject({
        code: 'invalid_argument',
        temporary: false,
      });
    } finally {
      await reads.close();
    }
  });

  it('when a bus is asked to publish to no node, then it rejects with InvalidArgumentError', async () => {
    const bus = new MemoryBus(undefined, 'n1');
    await bus.start(() => undefined);
    await expect(bus.publish(Buffer.from('x'), [])).rejects.toBeInstanceOf(InvalidArgumentError);
    await bus.close();
  });

  it('when a Redis driver gets a TTL that is not finite or a cluster key id with a brace, then it is an InvalidArgumentError', () => {
    expect(() => ttlMs(Number.NaN)).toThrow(InvalidArgumentError);
    expect(() => redisKeys('p:', { cluster: true }).presenceNodes('a{b}')).toThrow(InvalidArgumentError);
  });

  it('when Redis answers in a shape the driver cannot read, then the decoders throw MalformedReplyError', () => {
    expect(() => asInteger('x', 'probe')).toThrow(MalformedReplyError);
    expect(() => asString(7, 'probe')).toThrow(MalformedReplyError);
    expect(() => asArray('x', 'probe')).toThrow(MalformedReplyError);
  });
});

describe('the REST catalogue carries the retry flag too', () => {
  it('when an ApiError is made, then temporary comes from the catalogue: 503s, 429 and 409 in progress are temporary', () => {
    expect(new ApiError('state_unavailable').temporary).toBe(true);
    expect(new ApiError('bus_unavailable').temporary).toBe(true);
    expect(new ApiError('idempotency_in_progress').temporary).toBe(true);
    expect(new ApiError('too_many_requests').temporary).toBe(true);
    expect(new ApiError('idempotency_key_reused').temporary).toBe(false);
    expect(new ApiError('unauthorized').temporary).toBe(false);
    for (const entry of Object.values(ApiErrors))
      if (entry.status === 503) expect(entry.temporary).toBe(true);
  });
});

describe('REST answers to contract errors are unchanged', () => {
  let drivers: Drivers;
  let node: TestNode;
  beforeAll(async () => {
    drivers = createMemoryDrivers();
    node = await startTestNode({}, drivers);
  });
  afterAll(() => node.stop());

  const publish = () =>
    injector(node)('POST', '/v1/publish', {
      auth: PUBLISH_ONLY,
      body: { channel: 'promotions', event: 'e', data: 1 },
    });

  it.each([
    [new StateUnavailableError('redis down'), 503, 'state_unavailable', ApiErrors.state_unavailable.message],
    [new InvalidArgumentError('after must be…'), 500, 'internal', ApiErrors.internal.message],
    [new MalformedReplyError('history append: expected…'), 500, 'internal', ApiErrors.internal.message],
  ] as const)(
    'when history rejects with %s, then the answer is %i %s with the catalogue message',
    async (err, status, code, text) => {
      const append = drivers.state.history.append.bind(drivers.state.history);
      drivers.state.history.append = () => Promise.reject(err);
      try {
        const res = await publish();
        expect(res.status).toBe(status);
        expect(res.body).toEqual({ statusCode: status, code, message: text });
      } finally {
        drivers.state.history.append = append;
      }
    },
  );
});
