// The vehicle models the fleet simulator can field: brand, model, powertrain and the few physical constants
// its vehicle model needs. Brands are fictional (as in the API's examples); WMIs are made up but ISO 3779-valid.
// A first list of 3 brands and 9 models; the full catalog comes later.

export type Powertrain = 'bev' | 'phev' | 'ice';

export interface CatalogModel {
  readonly brand: string;
  readonly model: string;
  readonly powertrain: Powertrain;
  /** ISO 3780 world manufacturer identifier: VIN positions 1-3. */
  readonly wmi: string;
  /** Vehicle descriptor section: VIN positions 4-8, fixed per model here. */
  readonly vds: string;
  /** Model years the simulator picks from. */
  readonly years: readonly [first: number, last: number];
  readonly topSpeedKmh: number;
  /** Highest SAE level its driver assistance reaches (lane centring + adaptive cruise = 2). */
  readonly adasMaxLevel: 0 | 1 | 2;
  /** Usable traction battery energy (bev, phev). */
  readonly batteryKwh?: number;
  /** Mean consumption at city speeds, in kWh per 100 km (bev, phev in electric mode). */
  readonly kwhPer100Km?: number;
  /** Charging power the simulated vehicles get when they plug in. */
  readonly chargeKw?: number;
  readonly tankLitres?: number;
  readonly litresPer100Km?: number;
}

export const FLEET_CATALOG: readonly CatalogModel[] = [
  { brand: 'Voltra', model: 'E-Cross', powertrain: 'bev', wmi: 'VLT', vds: 'EX2A1', years: [2021, 2025], topSpeedKmh: 180, adasMaxLevel: 2, batteryKwh: 77, kwhPer100Km: 17.5, chargeKw: 120 },
  { brand: 'Voltra', model: 'E-City', powertrain: 'bev', wmi: 'VLT', vds: 'EC1B0', years: [2022, 2025], topSpeedKmh: 150, adasMaxLevel: 1, batteryKwh: 45, kwhPer100Km: 14.5, chargeKw: 75 },
  { brand: 'Voltra', model: 'Tourer PHEV', powertrain: 'phev', wmi: 'VLT', vds: 'TP3C5', years: [2020, 2025], topSpeedKmh: 210, adasMaxLevel: 2, batteryKwh: 14, kwhPer100Km: 18, chargeKw: 11, tankLitres: 45, litresPer100Km: 6.2 },
  { brand: 'Nordwind', model: 'Fjord', powertrain: 'ice', wmi: 'NWD', vds: 'FJ4D2', years: [2018, 2025], topSpeedKmh: 200, adasMaxLevel: 1, tankLitres: 60, litresPer100Km: 7.4 },
  { brand: 'Nordwind', model: 'Fjord Hybrid', powertrain: 'phev', wmi: 'NWD', vds: 'FH4E7', years: [2021, 2025], topSpeedKmh: 205, adasMaxLevel: 2, batteryKwh: 18, kwhPer100Km: 19, chargeKw: 7.4, tankLitres: 55, litresPer100Km: 6.5 },
  { brand: 'Nordwind', model: 'Skagen', powertrain: 'bev', wmi: 'NWD', vds: 'SK5F3', years: [2023, 2025], topSpeedKmh: 190, adasMaxLevel: 2, batteryKwh: 92, kwhPer100Km: 19.5, chargeKw: 200 },
  { brand: 'Kaiyun', model: 'K7', powertrain: 'bev', wmi: 'LKY', vds: 'K7G10', years: [2022, 2025], topSpeedKmh: 170, adasMaxLevel: 2, batteryKwh: 64, kwhPer100Km: 15.5, chargeKw: 100 },
  { brand: 'Kaiyun', model: 'Lanyu DM', powertrain: 'phev', wmi: 'LKY', vds: 'LD2H8', years: [2021, 2025], topSpeedKmh: 180, adasMaxLevel: 2, batteryKwh: 18.3, kwhPer100Km: 16, chargeKw: 6.6, tankLitres: 50, litresPer100Km: 5.5 },
  { brand: 'Kaiyun', model: 'Taishan', powertrain: 'ice', wmi: 'LKY', vds: 'TS3J4', years: [2019, 2025], topSpeedKmh: 185, adasMaxLevel: 1, tankLitres: 55, litresPer100Km: 6.8 },
];
