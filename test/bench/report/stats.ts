/** Medians and ranges over rounds, and number formatting for the tables. */

export interface Spread {
  median: number;
  min: number;
  max: number;
  values: number[];
}

export function spread(values: number[]): Spread | undefined {
  const finite = values.filter((v) => Number.isFinite(v));
  if (finite.length === 0) return undefined;
  const sorted = [...finite].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  const median = sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
  return { median, min: sorted[0]!, max: sorted[sorted.length - 1]!, values };
}

/** A figure for a table: thousands separated from 1,000 up, fewer decimals as it grows. */
export function num(v: number): string {
  const abs = Math.abs(v);
  if (abs >= 1000) return Math.round(v).toLocaleString('en-US');
  if (abs >= 100 || Number.isInteger(v)) return v.toFixed(0);
  if (abs >= 10) return v.toFixed(1);
  return v.toFixed(2);
}

/** `median (min–max)`, or just the value when the rounds agree or there is one round. */
export function cell(s: Spread | undefined): string {
  if (!s) return 'n/a';
  if (s.values.length === 1 || num(s.min) === num(s.max)) return num(s.median);
  return `${num(s.median)} (${num(s.min)}–${num(s.max)})`;
}

export function ratio(herald: Spread | undefined, socketio: Spread | undefined): string {
  if (!herald || !socketio) return '–';
  if (socketio.median === 0) return herald.median === 0 ? '–' : '∞';
  return `${(herald.median / socketio.median).toFixed(2)}×`;
}
