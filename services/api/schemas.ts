/** TypeBox schemas of the REST API: params, bodies and every response. */
import { Type, type Static } from 'typebox';
import {
  CHANNEL_PATTERN,
  EVENT_PATTERN,
  ID_PATTERN,
  SEGMENT_PATTERN,
} from '../../shared/protocol/channels.js';
import { ORDER_STATUSES, type OrderStatus } from '../../shared/protocol/events.js';

/** The statuses an order event may carry: the protocol's list (the SDK types order events with it). */
export { ORDER_STATUSES };

export const Id = Type.String({ pattern: ID_PATTERN, description: '1-128 characters of [A-Za-z0-9._@|=+-]' });
export const Segment = Type.String({
  pattern: SEGMENT_PATTERN,
  description: '1-64 characters of [A-Za-z0-9._-]',
});

export const ErrorReply = Type.Object(
  {
    statusCode: Type.Integer(),
    code: Type.String({ description: 'Stable machine-readable error code' }),
    message: Type.String(),
    details: Type.Optional(Type.Unknown()),
  },
  { $id: 'ErrorReply' },
);

export const PublishedMessage = Type.Object({
  channel: Type.String(),
  id: Type.String({ description: 'Message id (UUID)' }),
  offset: Type.Integer({ minimum: 1, description: 'Per-channel offset, contiguous from 1' }),
  epoch: Type.String({ description: 'Channel epoch the offset belongs to' }),
});
export const PublishReply = Type.Object({ messages: Type.Array(PublishedMessage) });

export const OrderParams = Type.Object({ orderId: Id });
export const OrderEventBody = Type.Object(
  {
    userId: Id,
    // Unsafe: the same schema, with its static type spelled out (a union of a mapped array is `never`).
    status: Type.Unsafe<OrderStatus>(Type.Union(ORDER_STATUSES.map((s) => Type.Literal(s)))),
    details: Type.Optional(
      Type.Object({}, { additionalProperties: true, description: 'Free-form extra fields for the client' }),
    ),
    occurredAt: Type.Optional(Type.String({ format: 'date-time' })),
  },
  { additionalProperties: false },
);
export type OrderEventBody = Static<typeof OrderEventBody>;

/**
 * A link a storefront renders (a promotion's target or image): http or https only, so a
 * `javascript:` or `data:` URL never reaches a page as a link.
 */
const WebUrl = Type.String({
  format: 'uri',
  pattern: '^[Hh][Tt][Tt][Pp][Ss]?://',
  maxLength: 2048,
  description: 'An http:// or https:// URL',
});

export const PromotionBody = Type.Object(
  {
    promotionId: Id,
    title: Type.String({ minLength: 1, maxLength: 200 }),
    body: Type.String({ minLength: 1, maxLength: 4000 }),
    segment: Type.Optional(Segment),
    url: Type.Optional(WebUrl),
    imageUrl: Type.Optional(WebUrl),
    expiresAt: Type.Optional(Type.String({ format: 'date-time' })),
    data: Type.Optional(Type.Object({}, { additionalProperties: true })),
  },
  { additionalProperties: false },
);
export type PromotionBody = Static<typeof PromotionBody>;

export const PublishBody = Type.Object(
  {
    channel: Type.String({
      pattern: CHANNEL_PATTERN,
      description: 'user:{id}, order:{id}, promotions or promotions:{segment}',
    }),
    event: Type.String({ pattern: EVENT_PATTERN, description: '1-64 characters of [A-Za-z0-9._:-]' }),
    data: Type.Unknown({ description: 'Any JSON value' }),
  },
  { additionalProperties: false },
);
export type PublishBody = Static<typeof PublishBody>;

export const batchBody = (maxItems: number) =>
  Type.Object(
    { messages: Type.Array(PublishBody, { minItems: 1, maxItems }) },
    { additionalProperties: false },
  );

export const UserParams = Type.Object({ userId: Id });
export const PresenceReply = Type.Object({
  userId: Type.String(),
  online: Type.Boolean(),
  connections: Type.Integer({ description: 'Open connections of the user on all nodes' }),
  nodes: Type.Array(Type.String()),
});
export const DisconnectReply = Type.Object({
  userId: Type.String(),
  connections: Type.Integer({ description: 'Connections the user had when the request was made' }),
});

export const HealthReply = Type.Object({ status: Type.String(), node: Type.String() });
export const ReadyReply = Type.Object({
  status: Type.String(),
  node: Type.String(),
  reasons: Type.Array(Type.String()),
});

export const ClusterNode = Type.Object({
  id: Type.String(),
  url: Type.String(),
  connections: Type.Integer(),
  capacity: Type.Number(),
  load: Type.Number({ description: 'connections / capacity' }),
  draining: Type.Boolean(),
  startedAt: Type.Integer({ description: 'ms since the Unix epoch' }),
  lastHeartbeat: Type.Integer({ description: 'ms since the Unix epoch' }),
});
export const ClusterReply = Type.Object({
  self: Type.String({ description: 'Id of the node that answered' }),
  nodes: Type.Array(ClusterNode),
});

export const OperatorTokenReply = Type.Object({
  token: Type.String({ description: 'A client token that may subscribe to the cluster channel only' }),
  expiresIn: Type.Integer({ description: 'Seconds until it expires' }),
  node: Type.String({ description: 'Id of the node that minted it' }),
  url: Type.Optional(
    Type.String({
      description:
        "WebSocket URL to connect to, when the console's own origin has no /ws (INTERNAL_PORT: this node's PUBLIC_URL)",
    }),
  ),
  internalPort: Type.Boolean({
    description:
      'Admin routes (and the console) are on INTERNAL_PORT: the publish API is on the public port only',
  }),
  statsIntervalMs: Type.Integer({ description: "This node's CLUSTER_STATS_INTERVAL_MS (0: no stats)" }),
});

export const ConnectReply = Type.Object({
  url: Type.String({ description: 'WebSocket URL of the chosen node (its PUBLIC_URL with /ws)' }),
  node: Type.String({ description: 'Id of the chosen node' }),
  load: Type.Number({ description: 'Its connections divided by its capacity' }),
});

export const ChannelParams = Type.Object({
  channel: Type.String({
    pattern: CHANNEL_PATTERN,
    description: 'user:{id}, order:{id}, promotions or promotions:{segment}',
  }),
});
export const HistoryQuery = Type.Object(
  {
    since: Type.Optional(
      Type.Integer({
        minimum: 0,
        maximum: Number.MAX_SAFE_INTEGER,
        description: 'Return messages with a greater offset (default 0)',
      }),
    ),
    limit: Type.Optional(
      Type.Integer({ minimum: 1, maximum: 1000, description: 'Most messages returned (default 100)' }),
    ),
  },
  { additionalProperties: false },
);
export const HistoryReply = Type.Object({
  channel: Type.String(),
  epoch: Type.String(),
  offset: Type.Integer({ description: 'Newest offset of the channel' }),
  complete: Type.Boolean({ description: 'False when messages right after `since` were trimmed or aged out' }),
  messages: Type.Array(
    Type.Object({
      offset: Type.Integer(),
      id: Type.String(),
      event: Type.String(),
      data: Type.Unknown(),
      ts: Type.Integer(),
    }),
  ),
});

export const InboxReply = Type.Object({
  userId: Type.String(),
  channels: Type.Array(
    Type.Object({
      channel: Type.String({ description: 'A channel the user can mark read: its user:{userId} channel' }),
      epoch: Type.String({ description: 'The channel epoch offset and read belong to' }),
      offset: Type.Integer({ description: 'Newest offset of the channel (0: no message yet)' }),
      read: Type.Integer({ description: "The user's read position in this epoch (0: nothing marked read)" }),
      unread: Type.Integer({ minimum: 0, description: 'offset - read' }),
    }),
  ),
});
