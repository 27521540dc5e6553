// The ingestion load tester (`npm run loadtest`, and importable): drives a running vehicle-cloud (or, through a
// LoadTarget, any MQTT ingest system) at a fixed or ramped rate and reports accepted and stored rates,
// publish-to-queryable latency, loss and duplicates by seq, and the service's CPU and RSS.
export { runLoadTest, type LiveProgress, type LoadTestHooks, type LoadTestPhase, type LoadTestReport, type TimelinePoint } from './runner.ts';
export {
  DEFAULTS,
  LIMITS,
  LoadTestOptionsError,
  assertValidOptions,
  isLoopbackHost,
  loadTestOptions,
  loadTestVins,
  optionProblems,
  parseDuration,
  parseRamp,
  parseRate,
  type LoadTestOptions,
  type MqttAuth,
  type Qos,
  type RateSchedule,
} from './options.ts';
export { serviceTarget, readServiceMetrics, TargetError, type LoadTarget, type LoadVehicle, type TargetDescription, type TargetSample } from './target.ts';
export { verifyBySeq, type Verification } from './verify.ts';
export { percentile, type LatencyStats } from './latency.ts';
export { metricTotals, parsePrometheus, parsePrometheusSamples, processUsage, processesUsage, CpuMeter, ProcessCpuTotal, type ProcessUsage } from './observe.ts';
export { liveLine, summaryTable, megabytes } from './report.ts';
export { addStoreWrites, describeWriteVolume, storeWritesBetween, storeWritesOf, writeVolume, type StoreWrites, type TableWrites, type WriteVolume } from './store-writes.ts';
export { SeqLedger } from './verify.ts';
export { loadSample, vehicleTrack } from './samples.ts';
export type { Reconnection, VehicleOutcome } from './protocol.ts';
export { reconnectionStats, type ReconnectionStats } from './reconnects.ts';
