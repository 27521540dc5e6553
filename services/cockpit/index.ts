// services/cockpit: the cockpit engine, the same for every store. The maintainer keeps the cockpit tables up to
// date as samples are stored (series sums per brand, model and minute; per-vehicle facts packed per segment of
// minutes, 10 minutes, hours and days; seal marks); the reader answers cockpit questions from them. A store only
// implements the small CockpitTables port (services/store/cockpit-tables.ts).
export { computeCockpit, type CockpitAnswer, type CockpitKpis, type CockpitPoint, type CockpitQuery } from './answer.ts';
export { CockpitMaintainer, type CockpitMaintainerOptions, type RollupStrategy } from './maintainer.ts';
export { CockpitReader, rollupAligned } from './reader.ts';
