// The vehicle models the fleet simulator can field: brand, model, powertrain and the physical constants its
// vehicle model needs. Brands are fictional (as in the API's examples); WMIs are made up but ISO 3779-valid.
// Figures are in the range of real cars of each class (WLTP-like consumption, usable battery energy).

export type Powertrain = 'bev' | 'phev' | 'ice';

export interface TractionBattery {
  /** Usable energy. */
  readonly kwh: number;
  /** Mean consumption at city speeds, electric drive. */
  readonly kwhPer100Km: number;
  /** Peak AC (wallbox, public post) charging power. */
  readonly acKw: number;
  /** Peak DC fast-charging power; absent when the car cannot fast-charge. */
  readonly dcKw?: number;
}

export interface FuelTank {
  readonly litres: number;
  /** Mean consumption at city speeds. */
  readonly litresPer100Km: number;
}

interface ModelBase {
  readonly brand: string;
  readonly model: string;
  /** ISO 3780 world manufacturer identifier: VIN positions 1-3. */
  readonly wmi: string;
  /** Vehicle descriptor section: VIN positions 4-8, fixed per model here. */
  readonly vds: string;
  /** Model years the simulator picks from. */
  readonly years: readonly [first: number, last: number];
  readonly topSpeedKmh: number;
  /** Lane centring with adaptive cruise (SAE level 2); without it the car has adaptive cruise only (level 1). */
  readonly adasLevel2: boolean;
  /** Cold tire pressure the door placard asks for. */
  readonly tireKpa: number;
}

export type CatalogModel =
  | (ModelBase & { readonly powertrain: 'bev'; readonly battery: TractionBattery; readonly tank?: undefined })
  | (ModelBase & { readonly powertrain: 'phev'; readonly battery: TractionBattery; readonly tank: FuelTank })
  | (ModelBase & { readonly powertrain: 'ice'; readonly battery?: undefined; readonly tank: FuelTank });

export const FLEET_CATALOG: readonly CatalogModel[] = [
  // Voltra: a European EV maker.
  { brand: 'Voltra', model: 'E-Cross', powertrain: 'bev', wmi: 'VLT', vds: 'EX2A1', years: [2021, 2025], topSpeedKmh: 180, adasLevel2: true, tireKpa: 250, battery: { kwh: 77, kwhPer100Km: 17.5, acKw: 11, dcKw: 135 } },
  { brand: 'Voltra', model: 'E-City', powertrain: 'bev', wmi: 'VLT', vds: 'EC1B0', years: [2022, 2025], topSpeedKmh: 150, adasLevel2: false, tireKpa: 240, battery: { kwh: 45, kwhPer100Km: 14.5, acKw: 11, dcKw: 75 } },
  { brand: 'Voltra', model: 'Tourer PHEV', powertrain: 'phev', wmi: 'VLT', vds: 'TP3C5', years: [2020, 2025], topSpeedKmh: 210, adasLevel2: true, tireKpa: 260, battery: { kwh: 14, kwhPer100Km: 18, acKw: 11 }, tank: { litres: 45, litresPer100Km: 6.2 } },
  // Nordwind: Scandinavian, estates and SUVs.
  { brand: 'Nordwind', model: 'Fjord', powertrain: 'ice', wmi: 'NWD', vds: 'FJ4D2', years: [2018, 2025], topSpeedKmh: 200, adasLevel2: false, tireKpa: 250, tank: { litres: 60, litresPer100Km: 7.4 } },
  { brand: 'Nordwind', model: 'Fjord Hybrid', powertrain: 'phev', wmi: 'NWD', vds: 'FH4E7', years: [2021, 2025], topSpeedKmh: 205, adasLevel2: true, tireKpa: 260, battery: { kwh: 18, kwhPer100Km: 19, acKw: 7.4 }, tank: { litres: 55, litresPer100Km: 6.5 } },
  { brand: 'Nordwind', model: 'Skagen', powertrain: 'bev', wmi: 'NWD', vds: 'SK5F3', years: [2023, 2025], topSpeedKmh: 190, adasLevel2: true, tireKpa: 270, battery: { kwh: 92, kwhPer100Km: 19.5, acKw: 22, dcKw: 200 } },
  // Kaiyun: a Chinese new-energy brand.
  { brand: 'Kaiyun', model: 'K7', powertrain: 'bev', wmi: 'LKY', vds: 'K7G10', years: [2022, 2025], topSpeedKmh: 170, adasLevel2: true, tireKpa: 250, battery: { kwh: 64, kwhPer100Km: 15.5, acKw: 7, dcKw: 100 } },
  { brand: 'Kaiyun', model: 'Lanyu DM', powertrain: 'phev', wmi: 'LKY', vds: 'LD2H8', years: [2021, 2025], topSpeedKmh: 180, adasLevel2: true, tireKpa: 250, battery: { kwh: 18.3, kwhPer100Km: 16, acKw: 6.6, dcKw: 30 }, tank: { litres: 50, litresPer100Km: 5.5 } },
  { brand: 'Kaiyun', model: 'Taishan', powertrain: 'ice', wmi: 'LKY', vds: 'TS3J4', years: [2019, 2025], topSpeedKmh: 185, adasLevel2: false, tireKpa: 240, tank: { litres: 55, litresPer100Km: 6.8 } },
  // Aurelia: Italian, sporty.
  { brand: 'Aurelia', model: 'Vento', powertrain: 'ice', wmi: 'ZAR', vds: 'VN7K2', years: [2019, 2025], topSpeedKmh: 240, adasLevel2: true, tireKpa: 240, tank: { litres: 58, litresPer100Km: 8.9 } },
  { brand: 'Aurelia', model: 'Brezza', powertrain: 'bev', wmi: 'ZAR', vds: 'BZ1L5', years: [2023, 2025], topSpeedKmh: 160, adasLevel2: false, tireKpa: 230, battery: { kwh: 54, kwhPer100Km: 16.2, acKw: 11, dcKw: 85 } },
  { brand: 'Aurelia', model: 'Strada Plug-in', powertrain: 'phev', wmi: 'ZAR', vds: 'SP3M8', years: [2021, 2025], topSpeedKmh: 215, adasLevel2: true, tireKpa: 250, battery: { kwh: 12, kwhPer100Km: 17.5, acKw: 7.4 }, tank: { litres: 40, litresPer100Km: 5.9 } },
  // Meridian: North American trucks and SUVs.
  { brand: 'Meridian', model: 'Prairie', powertrain: 'ice', wmi: '1MR', vds: 'PR8N1', years: [2018, 2025], topSpeedKmh: 175, adasLevel2: false, tireKpa: 240, tank: { litres: 98, litresPer100Km: 12.8 } },
  { brand: 'Meridian', model: 'Arc EV', powertrain: 'bev', wmi: '1MR', vds: 'AE9P4', years: [2023, 2025], topSpeedKmh: 180, adasLevel2: true, tireKpa: 280, battery: { kwh: 123, kwhPer100Km: 26, acKw: 19.2, dcKw: 250 } },
  { brand: 'Meridian', model: 'Harbor Hybrid', powertrain: 'phev', wmi: '1MR', vds: 'HH6R3', years: [2022, 2025], topSpeedKmh: 190, adasLevel2: true, tireKpa: 250, battery: { kwh: 17.8, kwhPer100Km: 21, acKw: 7.2 }, tank: { litres: 52, litresPer100Km: 7.8 } },
  // Hoshi: Japanese, small and frugal.
  { brand: 'Hoshi', model: 'Kei Spark', powertrain: 'bev', wmi: 'JHS', vds: 'KS0S6', years: [2022, 2025], topSpeedKmh: 130, adasLevel2: false, tireKpa: 230, battery: { kwh: 20, kwhPer100Km: 12.4, acKw: 6, dcKw: 30 } },
  { brand: 'Hoshi', model: 'Tsubasa', powertrain: 'ice', wmi: 'JHS', vds: 'TB4T7', years: [2019, 2025], topSpeedKmh: 180, adasLevel2: true, tireKpa: 240, tank: { litres: 43, litresPer100Km: 4.6 } },
  { brand: 'Hoshi', model: 'Hikari PHEV', powertrain: 'phev', wmi: 'JHS', vds: 'HK2U9', years: [2021, 2025], topSpeedKmh: 180, adasLevel2: true, tireKpa: 240, battery: { kwh: 13.6, kwhPer100Km: 15.5, acKw: 6.6, dcKw: 22 }, tank: { litres: 45, litresPer100Km: 4.8 } },
  // Tamaris: Iberian budget cars.
  { brand: 'Tamaris', model: 'Urba', powertrain: 'ice', wmi: 'VSM', vds: 'UR1V2', years: [2018, 2025], topSpeedKmh: 175, adasLevel2: false, tireKpa: 230, tank: { litres: 45, litresPer100Km: 5.6 } },
  { brand: 'Tamaris', model: 'Urba E', powertrain: 'bev', wmi: 'VSM', vds: 'UE1W5', years: [2022, 2025], topSpeedKmh: 150, adasLevel2: false, tireKpa: 240, battery: { kwh: 52, kwhPer100Km: 15.2, acKw: 11, dcKw: 100 } },
  { brand: 'Tamaris', model: 'Costa', powertrain: 'ice', wmi: 'VSM', vds: 'CS5X8', years: [2020, 2025], topSpeedKmh: 195, adasLevel2: true, tireKpa: 250, tank: { litres: 50, litresPer100Km: 5.1 } },
];
