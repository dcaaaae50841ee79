/** The comparison table (stdout and Markdown), the targets, and the files in test/bench/results/. */
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import type { Knobs } from '../knobs.js';
import type { DeliveryResult, RunResult } from '../results.js';
import { latencyChart } from './chart.js';
import { figures, type Figure } from './figures.js';
import { cell, num, ratio, spread, type Spread } from './stats.js';
import { checkTargets, GENERATOR_SATURATED_PERCENT, type TargetCheck } from './targets.js';

export interface RunInfo {
  date: string;
  machine: { cpus: number; model: string | undefined; node: string; damon: string[] };
  git: { commit: string; dirtyFiles: number };
  knobs: Knobs;
  herald: { env: Record<string, string>; execArgv: string[] };
}

interface Row {
  figure: Figure;
  socketio: Spread | undefined;
  herald: Spread | undefined;
}

function rows(k: Knobs, runs: RunResult[]): Row[] {
  const of = (figure: Figure, system: 'herald' | 'socketio'): Spread | undefined =>
    spread(runs.filter((r) => r.system === system).map((r) => figure.value(r) ?? NaN));
  return figures(k).map((figure) => ({
    figure,
    socketio: of(figure, 'socketio'),
    herald: of(figure, 'herald'),
  }));
}

/** Anything that went differently from a clean run, per system and round: printed under the targets. */
function anomalies(runs: RunResult[]): string[] {
  const out: string[] = [];
  for (const r of runs) {
    const c = r.counters;
    const phases: [string, DeliveryResult | undefined][] = [
      ['one at a time', r.broadcastOneAtATime],
      ['in flight', r.broadcastInFlight],
      ['batches', r.broadcastBatch],
      ['paced', r.paced],
      ['user-targeted', r.userTargeted],
    ];
    const extra = phases.reduce((sum, [, d]) => sum + (d?.extra ?? 0), 0);
    const late = phases
      .filter(([, d]) => (d?.outOfOrder ?? 0) > 0)
      .map(([name, d]) => `${d!.outOfOrder} ${name}`);
    const notes = [
      c.outOfOrder > 0
        ? `${c.outOfOrder} message frames arrived after a higher offset of their channel (${late.join(', ') || 'outside the measured phases'})`
        : '',
      c.duplicates > 0 ? `${c.duplicates} duplicate message frames dropped` : '',
      extra > 0 ? `${extra} deliveries beyond the expected` : '',
      c.handshakeFailures > 0 ? `${c.handshakeFailures} handshakes failed and were retried` : '',
      c.moved > r.churn.moved ? `${c.moved - r.churn.moved} clients moved after the watch window` : '',
      ...saturated(phases),
      c.errors > 0 ? `${c.errors} unexpected frames/errors (${c.errorSamples.slice(0, 3).join(' | ')})` : '',
    ].filter(Boolean);
    if (notes.length > 0)
      out.push(`round ${r.round}, ${r.system === 'herald' ? 'Herald' : 'Socket.IO'}: ${notes.join('; ')}`);
  }
  return out;
}

/** Phases in which the load generator used about a core: their rates are the generator's limit. */
function saturated(phases: [string, DeliveryResult | undefined][]): string[] {
  return phases
    .filter(([, d]) => d !== undefined && d.generatorCorePercent >= GENERATOR_SATURATED_PERCENT)
    .map(
      ([name, d]) =>
        `load generator at ${num(d!.generatorCorePercent)} % of a core during "${name}": the delivery rate is bounded by it`,
    );
}

const mark = (pass: boolean | undefined): string => (pass === undefined ? 'n/a ' : pass ? 'PASS' : 'FAIL');

function textTable(header: string[], body: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((r) => r[i]!.length)));
  const line = (cells: string[]): string =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(line)].join('\n');
}

function markdownTable(header: string[], body: string[][]): string {
  const esc = (c: string): string => c.replace(/\|/g, '\\|');
  return [
    `| ${header.join(' | ')} |`,
    `| ${header.map((_, i) => (i === 0 ? '---' : '---:')).join(' | ')} |`,
    ...body.map((r) => `| ${r.map(esc).join(' | ')} |`),
  ].join('\n');
}

export function render(
  info: RunInfo,
  runs: RunResult[],
): { text: string; markdown: string; targets: TargetCheck[] } {
  const k = info.knobs;
  const all = rows(k, runs);
  const header = ['figure', 'Socket.IO', 'Herald', 'Herald/Socket.IO'];
  const toCells = (r: Row): string[] => [
    r.figure.label,
    cell(r.socketio),
    cell(r.herald),
    ratio(r.herald, r.socketio),
  ];
  const main = all.filter((r) => !r.figure.info).map(toCells);
  const aside = all.filter((r) => r.figure.info).map(toCells);
  const targets = checkTargets(
    k,
    runs,
    all.map((r) => r.figure),
  );
  const targetRows = targets.map((t) => [mark(t.pass), t.target, t.measured]);
  const notes = anomalies(runs);
  const rounds = k.rounds === 1 ? '1 round' : `median (min–max) of ${k.rounds} rounds`;
  const title =
    `Herald vs Socket.IO 4 + redis-adapter: ${k.clients.toLocaleString('en-US')} clients over 2 nodes, ` +
    `${k.broadcasts} promotions per broadcast scenario, ${rounds}`;
  const context =
    `${info.date}, ${info.machine.cpus} cores (${info.machine.model ?? '?'}), Node ${info.machine.node}, ` +
    `git ${info.git.commit.slice(0, 12)}${info.git.dirtyFiles > 0 ? ` + ${info.git.dirtyFiles} changed files` : ''}` +
    (info.machine.damon.length > 0 ? `; kernel DAMON on (${info.machine.damon.join('; ')})` : '');
  const text = [
    title,
    context,
    '',
    textTable(header, main),
    '',
    'How the measurement behaved (not compared):',
    textTable(header, aside),
    '',
    'Targets (issue 9), on the medians:',
    ...targetRows.map(([m, t, v]) => `  ${m}  ${t}: ${v}`),
    ...(notes.length > 0
      ? ['', 'Notes (every expected delivery arrived; details in the JSON):', ...notes.map((n) => `  ${n}`)]
      : []),
  ].join('\n');
  const markdown = [
    `# Benchmark: ${title}`,
    '',
    context + '.',
    '',
    markdownTable(header, main),
    '',
    '## How the measurement behaved (not compared)',
    '',
    markdownTable(header, aside),
    '',
    '## Targets (issue 9), on the medians',
    '',
    markdownTable(['', 'target', 'measured'], targetRows),
    '',
    ...(notes.length > 0 ? ['## Notes', '', ...notes.map((n) => `- ${n}`), ''] : []),
    '![latency distributions](latest.svg)',
    '',
  ].join('\n');
  return { text, markdown, targets };
}

/** Writes bench-<date>.{json,md,svg} and latest.* copies; returns the paths written. */
export function writeResults(
  info: RunInfo,
  runs: RunResult[],
  markdown: string,
  targets: TargetCheck[],
): string[] {
  const dir = new URL('../results/', import.meta.url).pathname;
  mkdirSync(dir, { recursive: true });
  const stem = `bench-${info.date.replace(/[:.]/g, '-')}`;
  const medians: Record<string, { socketio: number | undefined; herald: number | undefined }> = {};
  for (const r of rows(info.knobs, runs))
    medians[r.figure.key] = { socketio: r.socketio?.median, herald: r.herald?.median };
  const json = { ...info, medians, targets, rounds: runs };
  const files: [string, string][] = [
    ['json', `${JSON.stringify(json, null, 2)}\n`],
    ['md', markdown.replace('latest.svg', `${stem}.svg`)],
    ['svg', latencyChart(runs, info.knobs.pacedRate, info.knobs.userRate)],
  ];
  const written: string[] = [];
  for (const [ext, content] of files) {
    writeFileSync(`${dir}${stem}.${ext}`, content);
    written.push(`${dir}${stem}.${ext}`);
  }
  for (const [ext] of files) copyFileSync(`${dir}${stem}.${ext}`, `${dir}latest.${ext}`);
  writeFileSync(`${dir}latest.md`, markdown);
  return written;
}
