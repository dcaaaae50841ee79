/**
 * The client `message` frame as JSON text, assembled around the already-serialized data instead of
 * re-stringifying it. The publisher builds it once per message; services/gateway/history-frames.ts
 * (recovery, gap repair, history replies) rebuilds it from history with this same function, so a
 * replayed frame is byte-for-byte the live one.
 */
export interface MessageParts {
  channel: string;
  offset: number;
  epoch: string;
  id: string;
  event: string;
  dataJson: string;
  ts: number;
}

export function messageFrameJson(m: MessageParts): string {
  return (
    `{"type":"message","channel":${JSON.stringify(m.channel)},"offset":${m.offset},"epoch":${JSON.stringify(m.epoch)},` +
    `"id":${JSON.stringify(m.id)},` +
    `"event":${JSON.stringify(m.event)},"data":${m.dataJson},"ts":${m.ts}}`
  );
}
