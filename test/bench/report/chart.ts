/**
 * An SVG chart of the latency distributions: latency by percentile (x on a "nines" scale, so the tail
 * gets room; y logarithmic) for the paced broadcast and the user-targeted events, both systems; each
 * point is the median over the rounds of that percentile.
 */
import { CURVE_PERCENTILES } from '../generator-protocol.js';
import type { RunResult } from '../results.js';
import { spread } from './stats.js';

const W = 460;
const H = 320;
const M = { left: 74, right: 28, top: 34, bottom: 46 };
const COLORS = { herald: '#d9480f', socketio: '#1c7ed6' } as const;
const LABELS = { herald: 'Herald', socketio: 'Socket.IO' } as const;
const MAX_NINES = 4; // 99.99th percentile at the right edge

const round1 = (v: number): number => Math.round(v * 10) / 10;
const nines = (p: number): number => Math.min(MAX_NINES, -Math.log10(Math.max(1e-9, 1 - p / 100)));

interface Panel {
  title: string;
  pick: (r: RunResult) => number[];
}

export function latencyChart(runs: RunResult[], pacedRate: number, userRate: number): string {
  const panels: Panel[] = [
    { title: `Paced broadcast, ${pacedRate}/s: every delivery`, pick: (r) => r.paced.latency.curve },
    { title: `User-targeted, ${userRate}/s: publish → client`, pick: (r) => r.userTargeted.latency.curve },
  ];
  const body = panels.map((panel, i) => drawPanel(panel, runs, i * W)).join('\n');
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W * panels.length}" height="${H}" ` +
    `viewBox="0 0 ${W * panels.length} ${H}" font-family="sans-serif" font-size="11">\n` +
    `<rect width="100%" height="100%" fill="white"/>\n${body}\n</svg>\n`
  );
}

function drawPanel(panel: Panel, runs: RunResult[], x0: number): string {
  const curves = (['socketio', 'herald'] as const)
    .map((system) => {
      const mine = runs.filter((r) => r.system === system).map(panel.pick);
      if (mine.length === 0) return undefined;
      const points = CURVE_PERCENTILES.map((p, i) => ({
        p,
        ms: spread(mine.map((curve) => curve[i] ?? NaN))?.median ?? NaN,
      })).filter((pt) => pt.p < 100 && Number.isFinite(pt.ms) && pt.ms > 0);
      return { system, points };
    })
    .filter((c) => c !== undefined);
  const all = curves.flatMap((c) => c.points.map((pt) => pt.ms));
  const lo = Math.pow(10, Math.floor(Math.log10(Math.min(...all, 1))));
  const hi = Math.pow(10, Math.ceil(Math.log10(Math.max(...all, 10))));
  const px = (p: number): number => round1(x0 + M.left + (nines(p) / MAX_NINES) * (W - M.left - M.right));
  const py = (ms: number): number =>
    M.top +
    (1 - (Math.log10(ms) - Math.log10(lo)) / (Math.log10(hi) - Math.log10(lo))) * (H - M.top - M.bottom);
  const out: string[] = [
    `<text x="${x0 + W / 2}" y="18" text-anchor="middle" font-size="13">${panel.title}</text>`,
  ];
  for (const p of [0, 50, 90, 99, 99.9, 99.99]) {
    out.push(`<line x1="${px(p)}" y1="${M.top}" x2="${px(p)}" y2="${H - M.bottom}" stroke="#ddd"/>`);
    out.push(
      `<text x="${px(p)}" y="${H - M.bottom + 14}" text-anchor="middle">${p === 0 ? 'p0' : `p${p}`}</text>`,
    );
  }
  for (let v = lo; v <= hi; v *= 10) {
    out.push(`<line x1="${px(0)}" y1="${py(v)}" x2="${x0 + W - M.right}" y2="${py(v)}" stroke="#ddd"/>`);
    out.push(
      `<text x="${px(0) - 6}" y="${py(v) + 4}" text-anchor="end">${v >= 1 ? v : v.toPrecision(1)} ms</text>`,
    );
  }
  out.push(
    `<text x="${x0 + W / 2}" y="${H - 10}" text-anchor="middle">percentile (nines scale; median of the rounds)</text>`,
  );
  curves.forEach((c, i) => {
    const d = c.points.map((pt) => `${px(pt.p)},${py(pt.ms)}`).join(' ');
    out.push(`<polyline fill="none" stroke="${COLORS[c.system]}" stroke-width="2" points="${d}"/>`);
    // Legend in the lower right corner, where the curves (rising to the right) leave room.
    const ly = H - M.bottom - 28 + i * 16;
    const lx = x0 + W - M.right - 100;
    out.push(
      `<line x1="${lx}" y1="${ly - 4}" x2="${lx + 20}" y2="${ly - 4}" stroke="${COLORS[c.system]}" stroke-width="2"/>`,
    );
    out.push(`<text x="${lx + 26}" y="${ly}">${LABELS[c.system]}</text>`);
  });
  return out.join('\n');
}
