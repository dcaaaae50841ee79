/** A node's Prometheus metrics, read over HTTP, as tests need them. */

/** The lines of metric `name` (every label set), joined by newlines. */
export async function metricLines(url: string, name: string): Promise<string> {
  const text = await (await fetch(`${url}/metrics`)).text();
  return text
    .split('\n')
    .filter((line) => line.startsWith(`${name}{`) || line.startsWith(`${name} `))
    .join('\n');
}

/** The value of one series, e.g. `herald_connection_closes_total{reason="flood"}`; 0 when absent. */
export async function metricValue(url: string, series: string): Promise<number> {
  const line = (await metricLines(url, series.split('{')[0]!))
    .split('\n')
    .find((l) => l.startsWith(`${series} `));
  return line === undefined ? 0 : Number(line.slice(series.length + 1));
}
