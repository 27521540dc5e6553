// A minimal InfluxQL reader for tests and benchmarks: counts and checks what really landed in InfluxDB, independently of
// the service's own query code.
export async function influxQuery(url: string, db: string | undefined, q: string): Promise<unknown[][]> {
  const params = new URLSearchParams({ q, epoch: 'ms' });
  if (db) params.set('db', db);
  const response = await fetch(`${url}/query?${params.toString()}`);
  if (!response.ok) throw new Error(`InfluxQL ${response.status}: ${await response.text()}`);
  const body = (await response.json()) as { results: Array<{ error?: string; series?: Array<{ tags?: Record<string, string>; values?: unknown[][] }> }> };
  const rows: unknown[][] = [];
  for (const result of body.results) {
    if (result.error) throw new Error(result.error);
    for (const series of result.series ?? []) {
      const tags = Object.values(series.tags ?? {});
      for (const values of series.values ?? []) rows.push([...values, ...tags]);
    }
  }
  return rows;
}
