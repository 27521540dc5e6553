// The InfluxDB adapter builds telemetry lines by hand for speed: they must say exactly what the client's Point
// says (same series key, same fields and types, same time), hostile tag values included.
import t from 'tap';
import { Point } from '@influxdata/influxdb-client';
import { SIGNAL_CATALOG } from '../../services/contract/signals.ts';
import { tagValue, telemetryLine, telemetryLinePrefix } from '../../services/store/influx/lines.ts';

/** `measurement,tags fields time` -> series key, the fields as a sorted list, time (fields hold no raw spaces here). */
function parts(line: string): { series: string; fields: string[]; time: string } {
  const fieldsAt = line.search(/(?<!\\) /);
  const timeAt = line.lastIndexOf(' ');
  const fields = line.slice(fieldsAt + 1, timeAt).match(/(?:[^,"\\]|\\.|"(?:[^"\\]|\\.)*")+/g) ?? [];
  return { series: line.slice(0, fieldsAt), fields: fields.sort(), time: line.slice(timeAt + 1) };
}

function pointLine(vehicle: { vin: string; brand: string; model: string }, sample: { ts: number; seq: number; signals: Record<string, number | boolean | string> }): string {
  const point = new Point('telemetry').tag('vin', tagValue(vehicle.vin)).tag('brand', tagValue(vehicle.brand)).tag('model', tagValue(vehicle.model)).intField('seq', sample.seq).timestamp(sample.ts);
  for (const [path, value] of Object.entries(sample.signals)) {
    const type = SIGNAL_CATALOG.find((s) => s.path === path)!.type;
    if (type === 'number') point.floatField(path, value as number);
    else if (type === 'boolean') point.booleanField(path, value as boolean);
    else point.stringField(path, value as string);
  }
  return point.toLineProtocol()!;
}

t.test('a hand-built telemetry line says what Point says, for every signal type and hostile tags', (t) => {
  const vehicles = [
    { vin: 'LNBSCB3F5JW123456', brand: 'Voltra', model: 'E-Cross' },
    { vin: 'LNBSCB3F5JW123457', brand: 'Brand, with=equals and spaces', model: 'Mödel "quoted" \\back\\' },
    { vin: 'LNBSCB3F5JW123458', brand: 'tab\there', model: 'new\nline\r' },
  ];
  const signals: Record<string, number | boolean | string> = {};
  for (const spec of SIGNAL_CATALOG) {
    signals[spec.path] = spec.type === 'number' ? (spec.integer ? 2 : 12.345678901234567) : spec.type === 'boolean' ? true : 'P0420, "U0100" \\ done';
  }
  const samples = [
    { ts: 1_795_000_000_000, seq: 0, signals },
    { ts: 1_795_000_000_123, seq: 42, signals: { 'Vehicle.Speed': 0, 'Vehicle.TraveledDistance': 1e7, 'Vehicle.Powertrain.TractionBattery.Charging.IsCharging': false } },
    { ts: 1_795_000_000_456, seq: 7, signals: { 'Vehicle.Speed': -0, 'Vehicle.CurrentLocation.Latitude': 0.1 + 0.2 } },
  ];
  for (const vehicle of vehicles) {
    for (const sample of samples) {
      const skipped = { values: 0 };
      const line = telemetryLine(telemetryLinePrefix(vehicle), sample, skipped);
      t.equal(skipped.values, 0);
      t.same(parts(line), parts(pointLine(vehicle, sample)), `${vehicle.brand} / seq ${sample.seq}`);
    }
  }
  t.end();
});

t.test('a value that does not fit its catalog type is left out and counted, never written as another type', (t) => {
  const skipped = { values: 0 };
  const line = telemetryLine(telemetryLinePrefix({ vin: 'LNBSCB3F5JW123456', brand: 'B', model: 'M' }), {
    ts: 1,
    seq: 1,
    signals: { 'Vehicle.Speed': 'fast', 'Vehicle.OBD.DTCList': 3, 'Not.A.Signal': 1, 'Vehicle.CurrentLocation.Heading': Number.NaN, 'Vehicle.Cabin.HVAC.AmbientAirTemperature': 21 },
  }, skipped);
  t.equal(skipped.values, 4);
  t.equal(line, 'telemetry,brand=B,model=M,vin=LNBSCB3F5JW123456 seq=1i,Vehicle.Cabin.HVAC.AmbientAirTemperature=21 1');
  t.end();
});
