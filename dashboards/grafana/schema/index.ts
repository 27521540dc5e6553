// Where the vendored Grafana JSON Schemas are (generate.ts writes them) and which panel types they cover.
import { readFileSync } from 'node:fs';

export const SCHEMA_FILE = new URL('./grafana.schema.json', import.meta.url);

/** Each panel type the dashboards may use, with the schema names of its `options` and `fieldConfig.defaults.custom`. */
export const PANEL_TYPES: Readonly<Record<string, { options: string; custom?: string }>> = {
  stat: { options: 'StatOptions' },
  timeseries: { options: 'TimeSeriesOptions', custom: 'TimeSeriesFieldConfig' },
  table: { options: 'TableOptions', custom: 'TableFieldConfig' },
  text: { options: 'TextOptions' },
};

export interface GrafanaSchemas {
  $comment: string;
  /** the @grafana/schema version the schemas were generated from */
  grafanaSchemaVersion: string;
  /** a self-contained JSON Schema per root type: Dashboard, then the panel option types of PANEL_TYPES */
  schemas: Record<string, object>;
}

/** The installed @grafana/schema version. */
export function installedGrafanaSchemaVersion(): string {
  const manifest = new URL('../../../node_modules/@grafana/schema/package.json', import.meta.url);
  return (JSON.parse(readFileSync(manifest, 'utf8')) as { version: string }).version;
}

export function readGrafanaSchemas(): GrafanaSchemas {
  return JSON.parse(readFileSync(SCHEMA_FILE, 'utf8')) as GrafanaSchemas;
}
