import { describe, expect, it } from 'vitest';
import { CONFIG_GROUPS, ENV_SCHEMA, intDefault } from '../../../shared/config/schema.js';

interface OptionSchema {
  type?: string;
  enum?: readonly string[];
  pattern?: string;
  default?: unknown;
  minimum?: number;
  maximum?: number;
  description?: string;
  errorMessage?: string;
}
const options = Object.entries(ENV_SCHEMA.properties as Record<string, OptionSchema>);

describe('the environment schema', () => {
  // A fixed list, written out by hand: a change to one of these defaults or bounds must be deliberate.
  it.each([
    ['PORT', 8080, 0, 65_535],
    ['WS_HEARTBEAT_MS', 25_000, 100, 600_000],
    ['WS_MAX_FRAME_BYTES', 65_536, 256, 16_777_216],
    ['WS_MAX_BUFFERED_BYTES', 1_048_576, 1024, 1_073_741_824],
    ['API_BODY_LIMIT_BYTES', 1_048_576, 1024, 67_108_864],
    ['SESSION_TTL_SECONDS', 120, 1, 86_400],
    ['SHUTDOWN_TIMEOUT_MS', 30_000, 100, 600_000],
    ['DRAIN_WINDOW_MS', 10_000, 0, 600_000],
    ['NODE_HEARTBEAT_MS', 2_000, 100, 60_000],
    ['NODE_TTL_SECONDS', 10, 1, 3_600],
    ['HISTORY_USER_MAX_MESSAGES', 1_000, 1, 1_000_000],
    ['HISTORY_REPLAY_LIMIT', 1_000, 1, 1_000_000],
    ['AMQP_PUBLISH_TIMEOUT_MS', 2_000, 50, 60_000],
    ['WEBHOOK_MAX_PENDING', 100_000, 1, 10_000_000],
  ] as const)('when %s is unset, then it is %d (accepted: %d to %d)', (name, def, min, max) => {
    expect(intDefault(name)).toBe(def);
    expect(ENV_SCHEMA.properties[name]).toMatchObject({ type: 'integer', minimum: min, maximum: max });
  });

  it('when an option is not a number, then its default is the documented one', () => {
    expect(ENV_SCHEMA.properties).toMatchObject({
      HOST: { default: '0.0.0.0' },
      INTERNAL_HOST: { default: '127.0.0.1' },
      NODE_ENV: { default: 'development', enum: ['development', 'production', 'test'] },
      LOG_LEVEL: { default: 'info' },
      REDIS_PREFIX: { default: 'herald:' },
      AMQP_EXCHANGE: { default: 'herald.bus' },
      BUS_ROUTING: { default: 'presence', enum: ['presence', 'broadcast'] },
      JWT_REQUIRE_EXP: { default: false },
      WS_ALLOW_GUESTS: { default: false },
    });
  });

  it('when options are listed, then each has a doc line, and each integer bounds that hold its default', () => {
    for (const [name, schema] of options) {
      expect(schema.description, name).toMatch(/\S/);
      if (schema.type !== 'integer') continue;
      expect(schema.minimum, name).toBeTypeOf('number');
      expect(schema.maximum, name).toBeTypeOf('number');
      if (typeof schema.default === 'number') {
        expect(schema.default, name).toBeGreaterThanOrEqual(schema.minimum!);
        expect(schema.default, name).toBeLessThanOrEqual(schema.maximum!);
      }
    }
  });

  it('when a string has a pattern, then its problem names the variable first', () => {
    for (const [name, schema] of options.filter(([, s]) => s.pattern !== undefined))
      expect(schema.errorMessage, name).toMatch(new RegExp(`^${name}[ =]`));
  });

  it('when the docs group the options, then each option is in exactly one group', () => {
    const grouped = CONFIG_GROUPS.flatMap((g) => Object.keys(g.options));
    expect(grouped.sort()).toEqual(Object.keys(ENV_SCHEMA.properties).sort());
    expect(new Set(grouped).size).toBe(grouped.length);
  });
});
