// A watch on every page of the browser suite (Chromium from tooling/chromium.ts): console errors, failed requests,
// requests to any host but the service, a token in a URL or a Referer; and screenshots for people to look at.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { ROOT } from '../../tooling/system.ts';

/** Screenshots of every view, for people to look at (git-ignored). */
export const ARTIFACTS = join(ROOT, 'tests', 'artifacts', 'screenshots');

export interface PageWatch {
  problems: string[];
  /** every URL the pages requested */
  urls: string[];
}

/**
 * Record what must never happen on a cockpit page. A request the page aborted itself (a stream closed when its
 * view goes away, a fetch superseded by the next) is not a failure.
 */
export function watchContext(context: BrowserContext, serviceOrigin: string, secrets: readonly string[]): PageWatch {
  const watch: PageWatch = { problems: [], urls: [] };
  const origin = new URL(serviceOrigin);
  const watchPage = (page: Page) => {
    page.on('console', (m) => {
      if (m.type() === 'error') watch.problems.push(`console error on ${page.url().split('#')[0]}: ${m.text()}`);
    });
    page.on('pageerror', (e) => watch.problems.push(`page error: ${e.message}`));
    page.on('requestfailed', (r) => {
      if (r.failure()?.errorText !== 'net::ERR_ABORTED') watch.problems.push(`failed request ${r.method()} ${r.url()}: ${r.failure()?.errorText}`);
    });
    page.on('response', (r) => {
      if (r.status() >= 400) watch.problems.push(`HTTP ${r.status()} for ${r.request().method()} ${r.url()}`);
    });
    page.on('request', (r) => {
      const url = r.url();
      watch.urls.push(url);
      if (url.startsWith('data:') || url.startsWith('blob:')) return;
      const u = new URL(url);
      if (u.host !== origin.host || !['127.0.0.1', 'localhost', '[::1]'].includes(u.hostname)) watch.problems.push(`request off the service: ${url}`);
      const referer = r.headers().referer ?? '';
      for (const secret of secrets) {
        if (u.search.includes(secret) || u.pathname.includes(secret)) watch.problems.push(`a token in a request URL: ${u.pathname}`);
        if (referer.includes(secret)) watch.problems.push(`a token in a Referer: ${u.pathname}`);
      }
    });
  };
  context.on('page', watchPage);
  for (const page of context.pages()) watchPage(page);
  return watch;
}

export async function screenshot(page: Page, name: string, fullPage = true): Promise<string> {
  mkdirSync(ARTIFACTS, { recursive: true });
  const path = join(ARTIFACTS, `${name}.png`);
  await page.screenshot({ path, fullPage });
  return path;
}
