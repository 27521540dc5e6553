// Debian's Chromium driven by playwright-core (never a downloaded browser), for the browser suite and the web cockpit
// benchmark.
import { chromium, type Browser } from 'playwright-core';
import { findBinary, missingServer } from './system.ts';

export const CHROMIUM = findBinary(['/usr/bin/chromium', 'chromium']);

/** Why a suite needing the browser cannot run here (outside CI only; in CI a missing Chromium throws). */
export const browserMissing = (): string | undefined => missingServer('chromium', CHROMIUM);

/** Headless, with the background traffic (updates, sync, default apps) that would leave loopback turned off. */
export async function launchChromium(): Promise<Browser> {
  if (!CHROMIUM) throw new Error('chromium not installed (apt-get install chromium)');
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--disable-background-networking', '--disable-component-update', '--disable-default-apps', '--disable-sync', '--no-first-run', '--metrics-recording-only'],
  });
}
