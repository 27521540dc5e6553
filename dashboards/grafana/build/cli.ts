// npm run grafana:build: writes the dashboards of dashboards.ts as the JSON files Grafana provisions. The files are
// committed (Grafana reads them as they are); tests/unit/grafana-dashboards.test.ts fails when they differ from the build.
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { buildDashboards } from './dashboards.ts';

export const DASHBOARDS_DIR = new URL('../dashboards/', import.meta.url);

/** A dashboard as its file holds it. */
export const dashboardFile = (dashboard: unknown): string => `${JSON.stringify(dashboard, null, 2)}\n`;

export function writeDashboards(dir: URL = DASHBOARDS_DIR): string[] {
  return Object.entries(buildDashboards()).map(([name, dashboard]) => {
    const path = fileURLToPath(new URL(name, dir));
    writeFileSync(path, dashboardFile(dashboard));
    return path;
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  for (const path of writeDashboards()) process.stdout.write(`wrote ${path}\n`);
}
