/**
 * The one place where protocol frames are decoded from and encoded to the wire.
 *
 * Decoding never throws: malformed input becomes a `DecodeError` carrying a catalogue code, which the
 * gateway answers with an `error` frame. Field checks are hand-written guards rather than a schema
 * validator because this runs for every client frame.
 */
import {
  MAX_CONNECT_CHANNELS,
  type ChannelPosition,
  type ClientFrame,
  type Ref,
  type ServerFrame,
} from './frames.js';
import type { WsErrorCode } from './errors.js';

export interface DecodeError {
  ok: false;
  code: WsErrorCode;
  message: string;
  ref?: Ref;
}
export type DecodeResult = { ok: true; frame: ClientFrame } | DecodeError;

export const MAX_REF_LENGTH = 64;
const MAX_CHANNEL_LENGTH = 256;
const MAX_TOKEN_LENGTH = 16_384;
const MAX_EPOCH_LENGTH = 64;
const MAX_SESSION_LENGTH = 64;
/** More positions than any subscription limit needs; the gateway ignores the ones it cannot use. */
const MAX_POSITIONS = 1000;
/** Messages one `history` frame returns: `limit` defaults to the first, may be up to the second. */
export const DEFAULT_HISTORY_LIMIT = 50;
export const MAX_HISTORY_LIMIT = 100;

type Obj = Record<string, unknown>;

const isObject = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const isRef = (v: unknown): v is Ref =>
  (typeof v === 'string' && v.length <= MAX_REF_LENGTH) || (typeof v === 'number' && Number.isFinite(v));
const isShortString = (v: unknown, max: number): v is string =>
  typeof v === 'string' && v.length > 0 && v.length <= max;
const isOffset = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

function bad(message: string, ref: Ref | undefined): DecodeError {
  return ref === undefined
    ? { ok: false, code: 'bad_frame', message }
    : { ok: false, code: 'bad_frame', message, ref };
}

export function decodeClientFrame(raw: string): DecodeResult {
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    return { ok: false, code: 'invalid_json', message: 'Frame is not valid JSON' };
  }
  if (!isObject(value)) return bad('Frame must be a JSON object', undefined);

  let ref: Ref | undefined;
  if (value.ref !== undefined) {
    if (!isRef(value.ref))
      return bad(`ref must be a number or a string of at most ${MAX_REF_LENGTH} characters`, undefined);
    ref = value.ref;
  }
  const withRef = <T extends ClientFrame>(frame: T): DecodeResult => ({
    ok: true,
    frame: ref === undefined ? frame : { ...frame, ref },
  });

  switch (value.type) {
    case 'ping':
      return withRef({ type: 'ping' });
    case 'auth': {
      const frame: ClientFrame = { type: 'auth' };
      // No token: a guest, where the node allows guests (the connection decides).
      if (value.token !== undefined) {
        if (!isShortString(value.token, MAX_TOKEN_LENGTH)) return bad('auth needs a token string', ref);
        frame.token = value.token;
      }
      if (value.channels !== undefined) {
        if (
          !Array.isArray(value.channels) ||
          value.channels.length > MAX_CONNECT_CHANNELS ||
          !value.channels.every((c) => isShortString(c, MAX_CHANNEL_LENGTH))
        )
          return bad(`channels must be a list of at most ${MAX_CONNECT_CHANNELS} channel names`, ref);
        frame.channels = value.channels;
      }
      return withRef(frame);
    }
    case 'subscribe': {
      if (!isShortString(value.channel, MAX_CHANNEL_LENGTH))
        return bad('subscribe needs a channel string', ref);
      const frame: ClientFrame = { type: 'subscribe', channel: value.channel };
      if (value.offset !== undefined) {
        if (typeof value.offset !== 'number' || !Number.isSafeInteger(value.offset) || value.offset < 0) {
          return bad('offset must be a non-negative integer', ref);
        }
        frame.offset = value.offset;
      }
      if (value.epoch !== undefined) {
        if (!isShortString(value.epoch, MAX_EPOCH_LENGTH)) return bad('epoch must be a short string', ref);
        frame.epoch = value.epoch;
      }
      return withRef(frame);
    }
    case 'resume': {
      if (!isShortString(value.session, MAX_SESSION_LENGTH)) return bad('resume needs a session string', ref);
      const frame: ClientFrame = { type: 'resume', session: value.session };
      if (value.positions !== undefined) {
        const positions = decodePositions(value.positions);
        if (typeof positions === 'string') return bad(positions, ref);
        frame.positions = positions;
      }
      return withRef(frame);
    }
    case 'unsubscribe':
      if (!isShortString(value.channel, MAX_CHANNEL_LENGTH))
        return bad('unsubscribe needs a channel string', ref);
      return withRef({ type: 'unsubscribe', channel: value.channel });
    case 'history': {
      if (!isShortString(value.channel, MAX_CHANNEL_LENGTH))
        return bad('history needs a channel string', ref);
      const frame: ClientFrame = { type: 'history', channel: value.channel };
      if (value.since !== undefined) {
        if (!isOffset(value.since)) return bad('since must be a non-negative integer', ref);
        frame.since = value.since;
      }
      if (value.limit !== undefined) {
        if (!isOffset(value.limit) || value.limit < 1 || value.limit > MAX_HISTORY_LIMIT)
          return bad(`limit must be an integer from 1 to ${MAX_HISTORY_LIMIT}`, ref);
        frame.limit = value.limit;
      }
      return withRef(frame);
    }
    case 'ack': {
      if (!isShortString(value.channel, MAX_CHANNEL_LENGTH)) return bad('ack needs a channel string', ref);
      if (!isOffset(value.offset)) return bad('ack needs an offset: a non-negative integer', ref);
      const frame: ClientFrame = { type: 'ack', channel: value.channel, offset: value.offset };
      if (value.epoch !== undefined) {
        if (!isShortString(value.epoch, MAX_EPOCH_LENGTH)) return bad('epoch must be a short string', ref);
        frame.epoch = value.epoch;
      }
      return withRef(frame);
    }
    default:
      if (typeof value.type !== 'string') return bad('Frame needs a string type', ref);
      return ref === undefined
        ? { ok: false, code: 'unknown_type', message: 'Unknown frame type' }
        : { ok: false, code: 'unknown_type', message: 'Unknown frame type', ref };
  }
}

/** A map channel → {offset, epoch}, or the reason it is not one. */
function decodePositions(value: unknown): Record<string, ChannelPosition> | string {
  if (!isObject(value)) return 'positions must be an object of channel → {offset, epoch}';
  const entries = Object.entries(value);
  if (entries.length > MAX_POSITIONS) return `positions holds at most ${MAX_POSITIONS} channels`;
  const positions: Record<string, ChannelPosition> = Object.create(null) as Record<string, ChannelPosition>;
  for (const [channel, position] of entries) {
    if (channel.length === 0 || channel.length > MAX_CHANNEL_LENGTH)
      return 'positions has a bad channel name';
    if (
      !isObject(position) ||
      typeof position.offset !== 'number' ||
      !Number.isSafeInteger(position.offset) ||
      position.offset < 0 ||
      !isShortString(position.epoch, MAX_EPOCH_LENGTH)
    ) {
      return `positions.${channel} must be {offset: non-negative integer, epoch: string}`;
    }
    positions[channel] = { offset: position.offset, epoch: position.epoch };
  }
  return positions;
}

export function encodeServerFrame(frame: ServerFrame): string {
  return JSON.stringify(frame);
}
