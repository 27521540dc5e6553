// The offline map: Leaflet (pan, zoom, keyboard, touch) over a basemap bundled from npm (Natural Earth
// countries from world-atlas, plus the simulated cities' driving areas and arterial grids), no tile server.
// Vehicles are one canvas layer drawn from flat arrays: 10,000 of them redraw in a few milliseconds, where as
// many Leaflet markers would each carry an object, event wiring and a partial redraw per update.
import L from 'leaflet';
import { feature } from 'topojson-client';
import type { GeometryCollection, Topology } from 'topojson-specification';
import countries110m from 'world-atlas/countries-110m.json';
import countries50m from 'world-atlas/countries-50m.json';
import { CITIES } from '../../../../simulators/fleet/cities.ts';
import type { Position, PositionChange, VehicleState } from '../api.ts';
import { STATE_ORDER, type ColumnFrame, type StartStream, type WorkerMessage } from './position-frames.ts';

export const STATE_COLOURS: Record<VehicleState, string> = {
  driving: '#3fb950',
  parked: '#58a6ff',
  charging: '#d29922',
  fault: '#f85149',
  offline: '#8b949e',
};
/** The layer's state codes are the worker's (position-worker.ts). */
const STATES = STATE_ORDER;
const EARTH_RADIUS_M = 6_371_000;
/** Arterial roads of the simulated cities are this far apart (simulators/fleet/routes.ts). */
const ARTERIAL_SPACING_M = 1200;
const HIT_RADIUS_PX = 9;
/** The detailed basemap from this zoom on (a country's outline at 1:110m is coarse there). */
const DETAILED_FROM_ZOOM = 5;
/** Vehicles get an outline while there are at most this many. */
const OUTLINED_UP_TO = 3000;

/** Make a ring's longitudes continuous (Natural Earth rings that cross 180° jump to -180°, drawn as a line across the world). */
function unwrap(ring: number[][]): void {
  for (let i = 1; i < ring.length; i++) {
    const d = ring[i]![0]! - ring[i - 1]![0]!;
    if (d > 180) ring[i]![0]! -= 360 * Math.round(d / 360);
    else if (d < -180) ring[i]![0]! += 360 * Math.round(-d / 360);
  }
}

/** Countries as a layer from TopoJSON (fetched as data: parsing JSON is far cheaper than a script of the same size). */
async function countryLayer(url: string): Promise<L.Layer> {
  const topo = (await (await fetch(url)).json()) as Topology<{ countries: GeometryCollection }>;
  const world = feature(topo, topo.objects.countries);
  for (const country of world.features) {
    const g = country.geometry;
    const polygons = g.type === 'Polygon' ? [g.coordinates] : g.type === 'MultiPolygon' ? g.coordinates : [];
    for (const polygon of polygons) for (const ring of polygon) unwrap(ring);
  }
  return L.geoJSON(world, { style: { color: '#3b4450', weight: 1, fillColor: '#1c2128', fillOpacity: 1 }, interactive: false });
}

/** Natural Earth at 1:110m (100 KB) first; at 1:50m (750 KB) once someone zooms in to where it shows. */
function basemap(map: L.Map): void {
  let coarse: L.Layer | undefined;
  const place = (layer: L.Layer) => {
    layer.addTo(map);
    // under the cities and vehicles
    (layer as L.GeoJSON).bringToBack();
  };
  void countryLayer(countries110m).then((layer) => {
    coarse = layer;
    place(layer);
  });
  const refine = () => {
    if (map.getZoom() < DETAILED_FROM_ZOOM) return;
    map.off('zoomend', refine);
    void countryLayer(countries50m).then((layer) => {
      place(layer);
      coarse?.remove();
    });
  };
  map.on('zoomend', refine);
  map.whenReady(refine);
}

/** Each simulated city: its driving area and its grid of arterials (simulators/fleet/cities.ts, routes.ts). */
function cityLayers(): { outlines: L.Layer; grids: L.Layer } {
  const outlines = L.layerGroup();
  const grids = L.layerGroup();
  for (const city of CITIES) {
    const { lat, lon } = city.centre;
    const r = city.radiusKm * 1000;
    L.circle([lat, lon], { radius: r, color: '#6e7681', weight: 1, dashArray: '4 4', fill: false, interactive: false })
      .bindTooltip(city.name, { permanent: true, direction: 'top', className: 'city-label' })
      .addTo(outlines);
    const b = (city.gridBearingDeg * Math.PI) / 180;
    const toLatLng = (u: number, v: number): L.LatLngTuple => {
      // u along the main axis (bearing b), v across it; metres east (x) and north (y)
      const x = u * Math.sin(b) + v * Math.cos(b);
      const y = u * Math.cos(b) - v * Math.sin(b);
      return [lat + (y / EARTH_RADIUS_M) * (180 / Math.PI), lon + (x / (EARTH_RADIUS_M * Math.cos((lat * Math.PI) / 180))) * (180 / Math.PI)];
    };
    for (let k = -Math.floor(r / ARTERIAL_SPACING_M); k * ARTERIAL_SPACING_M <= r; k++) {
      const offset = k * ARTERIAL_SPACING_M;
      const half = Math.sqrt(r * r - offset * offset);
      L.polyline([toLatLng(-half, offset), toLatLng(half, offset)], { color: '#2d333b', weight: 1, interactive: false }).addTo(grids);
      L.polyline([toLatLng(offset, -half), toLatLng(offset, half)], { color: '#2d333b', weight: 1, interactive: false }).addTo(grids);
    }
  }
  return { outlines, grids };
}

/** All vehicles on one canvas; positions in typed arrays indexed by VIN. */
class VehicleLayer extends L.Layer {
  private canvas!: HTMLCanvasElement;
  private readonly index = new Map<string, number>();
  private readonly vins: string[] = [];
  private lat = new Float64Array(1024);
  private lon = new Float64Array(1024);
  private state = new Uint8Array(1024);
  private x = new Float32Array(1024);
  private y = new Float32Array(1024);
  private frame = 0;
  private hidden = false;
  readonly counts: Record<VehicleState, number> = { driving: 0, parked: 0, charging: 0, fault: 0, offline: 0 };
  /** drawn frames, for the page (and its tests) to see that the map moved */
  draws = 0;
  /** ringed on the map */
  selected: string | undefined;

  get size(): number {
    return this.vins.length;
  }

  override onAdd(map: L.Map): this {
    this.canvas = L.DomUtil.create('canvas', 'vehicle-layer leaflet-zoom-hide');
    map.getPanes().overlayPane.appendChild(this.canvas);
    map.on('moveend resize viewreset zoomend', this.schedule, this);
    map.on('zoomstart', this.hide, this);
    this.schedule();
    return this;
  }

  override onRemove(map: L.Map): this {
    map.off('moveend resize viewreset zoomend', this.schedule, this);
    map.off('zoomstart', this.hide, this);
    cancelAnimationFrame(this.frame);
    this.canvas.remove();
    return this;
  }

  set(vin: string, lat: number, lon: number, state: VehicleState): void {
    let i = this.index.get(vin);
    if (i === undefined) {
      i = this.vins.length;
      if (i === this.lat.length) this.grow();
      this.index.set(vin, i);
      this.vins.push(vin);
    } else this.counts[STATES[this.state[i]!]!] -= 1;
    this.lat[i] = lat;
    this.lon[i] = lon;
    this.state[i] = STATES.indexOf(state);
    this.counts[state] += 1;
  }

  points(): L.LatLngTuple[] {
    return this.vins.map((_, i) => [this.lat[i]!, this.lon[i]!]);
  }

  /** VINs in index order (the position worker's numbering starts from these). */
  order(): readonly string[] {
    return this.vins;
  }

  /** A frame from the position worker: indexes into this layer, new VINs appended in order. */
  setColumns(frame: ColumnFrame): void {
    for (const vin of frame.added) {
      if (this.vins.length === this.lat.length) this.grow();
      this.index.set(vin, this.vins.length);
      this.vins.push(vin);
      this.state[this.vins.length - 1] = STATES.indexOf('offline');
      this.counts.offline += 1;
    }
    for (let k = 0; k < frame.index.length; k++) {
      const i = frame.index[k]!;
      this.counts[STATES[this.state[i]!]!] -= 1;
      this.lat[i] = frame.lat[k]!;
      this.lon[i] = frame.lon[k]!;
      this.state[i] = frame.state[k]!;
      this.counts[STATES[frame.state[k]!]!] += 1;
    }
  }

  get(vin: string): { lat: number; lon: number; state: VehicleState } | undefined {
    const i = this.index.get(vin);
    return i === undefined ? undefined : { lat: this.lat[i]!, lon: this.lon[i]!, state: STATES[this.state[i]!]! };
  }

  /** The vehicle drawn nearest to a point of the map's container, within a finger's reach. */
  hit(point: L.Point): string | undefined {
    let best: string | undefined;
    let bestD = HIT_RADIUS_PX * HIT_RADIUS_PX;
    for (let i = 0; i < this.vins.length; i++) {
      const dx = this.x[i]! - point.x;
      const dy = this.y[i]! - point.y;
      const d = dx * dx + dy * dy;
      if (d <= bestD) {
        bestD = d;
        best = this.vins[i];
      }
    }
    return best;
  }

  schedule(): void {
    this.hidden = false;
    if (this.frame === 0) this.frame = requestAnimationFrame(() => this.draw());
  }

  private hide(): void {
    this.hidden = true;
    this.canvas.style.visibility = 'hidden';
  }

  private grow(): void {
    const n = this.lat.length * 2;
    const copy = <A extends Float64Array | Float32Array | Uint8Array>(a: A, into: A): A => (into.set(a), into);
    this.lat = copy(this.lat, new Float64Array(n));
    this.lon = copy(this.lon, new Float64Array(n));
    this.state = copy(this.state, new Uint8Array(n));
    this.x = new Float32Array(n);
    this.y = new Float32Array(n);
  }

  private draw(): void {
    this.frame = 0;
    const map = this._map;
    if (!map || this.hidden) return;
    const started = performance.now();
    const size = map.getSize();
    const dpr = window.devicePixelRatio || 1;
    const topLeft = map.containerPointToLayerPoint([0, 0]);
    L.DomUtil.setPosition(this.canvas, topLeft);
    if (this.canvas.width !== size.x * dpr || this.canvas.height !== size.y * dpr) {
      this.canvas.width = size.x * dpr;
      this.canvas.height = size.y * dpr;
      this.canvas.style.width = `${size.x}px`;
      this.canvas.style.height = `${size.y}px`;
    }
    // Web Mercator by hand (what map.latLngToContainerPoint does, without two objects per vehicle)
    const scale = 256 * 2 ** map.getZoom();
    const origin = map.getPixelOrigin();
    const ox = origin.x + topLeft.x;
    const oy = origin.y + topLeft.y;
    const n = this.vins.length;
    for (let i = 0; i < n; i++) {
      const s = Math.sin((Math.max(-85.05, Math.min(85.05, this.lat[i]!)) * Math.PI) / 180);
      this.x[i] = ((this.lon[i]! + 180) / 360) * scale - ox;
      this.y[i] = (0.5 - Math.log((1 + s) / (1 - s)) / (4 * Math.PI)) * scale - oy;
    }
    const ctx = this.canvas.getContext('2d')!;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, size.x, size.y);
    const r = map.getZoom() >= 11 ? 4 : 3;
    ctx.lineWidth = 1;
    ctx.strokeStyle = '#0d1117';
    // offline first, so vehicles that matter are drawn on top; one path per state
    for (let k = STATES.length - 1; k >= 0; k--) {
      ctx.fillStyle = STATE_COLOURS[STATES[k]!];
      ctx.beginPath();
      for (let i = 0; i < n; i++) {
        if (this.state[i] !== k) continue;
        const x = this.x[i]!;
        const y = this.y[i]!;
        if (x < -r || y < -r || x > size.x + r || y > size.y + r) continue;
        ctx.moveTo(x + r, y);
        ctx.arc(x, y, r, 0, 2 * Math.PI);
      }
      ctx.fill();
      // an outline separates dots in a crowd, but doubles the cost of a crowd: only for a few thousand
      if (n <= OUTLINED_UP_TO) ctx.stroke();
    }
    const chosen = this.selected === undefined ? undefined : this.index.get(this.selected);
    if (chosen !== undefined) {
      ctx.beginPath();
      ctx.arc(this.x[chosen]!, this.y[chosen]!, r + 5, 0, 2 * Math.PI);
      ctx.lineWidth = 2.5;
      ctx.strokeStyle = '#f2cc60';
      ctx.stroke();
    }
    this.canvas.style.visibility = 'visible';
    this.draws += 1;
    // for the page's tests and benchmark: the vehicles were drawn (again)
    map.getContainer().dataset.draws = String(this.draws);
    performance.measure('vc:draw-vehicles', { start: started, detail: n });
  }
}

export interface FleetMap {
  readonly map: L.Map;
  /** replace every vehicle */
  setPositions(positions: readonly Position[]): void;
  /** a coalesced frame of the position stream */
  applyChanges(changes: readonly PositionChange[]): void;
  /** follow the position stream in a worker; resolves when the stream is refused (401) */
  stream(path: string, token: string, onFrame: (changes: number) => void, signal: AbortSignal): Promise<void>;
  vehicle(vin: string): { lat: number; lon: number; state: VehicleState } | undefined;
  counts(): Record<VehicleState, number>;
  /** frames drawn so far */
  draws(): number;
  /** fit the view to the vehicles, or to the cities when there are none */
  fit(): void;
  focus(vin: string, zoom?: number): boolean;
  /** ring one vehicle (or none) */
  select(vin: string | undefined): void;
  /** a line through these points (a vehicle's route), or none */
  showRoute(points: ReadonlyArray<[number, number]>): void;
  destroy(): void;
}

export function createFleetMap(element: HTMLElement, options: { onSelect?: (vin: string, at: L.LatLng) => void } = {}): FleetMap {
  const map = L.map(element, { preferCanvas: true, worldCopyJump: true, minZoom: 2, maxZoom: 17, attributionControl: true, zoomSnap: 0.5 });
  map.attributionControl.setPrefix(false).addAttribution('Basemap: Natural Earth (world-atlas)');
  basemap(map);
  const { outlines, grids } = cityLayers();
  outlines.addTo(map);
  const showGrids = () => (map.getZoom() >= 10 ? grids.addTo(map) : grids.remove());
  map.on('zoomend', showGrids);
  const vehicles = new VehicleLayer();
  vehicles.addTo(map);
  let route: L.Polyline | undefined;

  map.on('click', (e: L.LeafletMouseEvent) => {
    const vin = vehicles.hit(e.containerPoint);
    if (vin) options.onSelect?.(vin, e.latlng);
  });
  map.on('mousemove', (e: L.LeafletMouseEvent) => {
    element.style.cursor = vehicles.hit(e.containerPoint) ? 'pointer' : '';
  });

  const fit = () => {
    const points = vehicles.points();
    if (points.length === 0) for (const c of CITIES) points.push([c.centre.lat, c.centre.lon]);
    map.fitBounds(L.latLngBounds(points), { padding: [24, 24], maxZoom: 13 });
  };
  map.setView([30, 0], 2);
  showGrids();

  return {
    map,
    setPositions(positions) {
      for (const p of positions) vehicles.set(p.vin, p.lat, p.lon, p.state);
      vehicles.schedule();
    },
    applyChanges(changes) {
      for (const [vin, lat, lon, state] of changes) vehicles.set(vin, lat, lon, state);
      vehicles.schedule();
    },
    stream(path, token, onFrame, signal) {
      const worker = new Worker(__POSITION_WORKER_URL__, { type: 'module', name: 'positions' });
      signal.addEventListener('abort', () => worker.terminate());
      worker.postMessage({ path, token, vins: vehicles.order() } satisfies StartStream);
      return new Promise((resolve) => {
        worker.onmessage = ({ data }: MessageEvent<WorkerMessage>) => {
          if (data.type === 'unauthorized') {
            worker.terminate();
            resolve();
            return;
          }
          const started = performance.now();
          vehicles.setColumns(data);
          vehicles.schedule();
          onFrame(data.index.length);
          // visible in the browser's performance tools (and read by bench:web)
          performance.measure('vc:positions-frame', { start: started, detail: data.index.length });
        };
      });
    },
    vehicle: (vin) => vehicles.get(vin),
    counts: () => ({ ...vehicles.counts }),
    draws: () => vehicles.draws,
    fit,
    focus(vin, zoom = 14) {
      const v = vehicles.get(vin);
      if (!v) return false;
      map.setView([v.lat, v.lon], zoom);
      return true;
    },
    select(vin) {
      vehicles.selected = vin;
      vehicles.schedule();
    },
    showRoute(points) {
      route?.remove();
      route = points.length > 1 ? L.polyline(points as unknown as L.LatLngTuple[], { color: '#a371f7', weight: 3 }).addTo(map) : undefined;
      if (route) map.fitBounds(route.getBounds(), { padding: [24, 24], maxZoom: 15 });
    },
    destroy() {
      // Leaflet 1.9 ends an animated zoom from a 250 ms timer that map.remove() leaves running, and that timer then
      // reads the removed panes ("Cannot read properties of undefined (reading '_leaflet_pos')", Leaflet/Leaflet#9575):
      // a view left within 250 ms of a zoom (the first fit, a click on a vehicle, the zoom buttons) ends it first
      map.stop();
      (map as unknown as { _animatingZoom?: boolean })._animatingZoom = false;
      map.remove();
    },
  };
}
