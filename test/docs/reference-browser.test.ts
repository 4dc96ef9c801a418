/**
 * `/docs` in a real browser: Debian's headless Chromium (driven over CDP by playwright-core, no browser download)
 * loads the reference from the compiled bridge started as `npm start` runs it, under the bridge's own CSP. Every
 * operation of spec/openapi.yaml is rendered, no console error or CSP violation occurs, the RFC 7592 operations ask
 * for the registration access token (not an API key), and try-it really calls the bridge. A screenshot is kept in
 * test-output/ (gitignored).
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type Browser, chromium, type Page } from 'playwright-core';
import { parse } from 'yaml';
import { root, startBridgeProcess, until, type BridgeProcess } from '../fleet/bridge-process.js';
import { findOrInstall } from '../support/debian-package.js';
import { freeLoopbackPort } from '../support/free-port.js';

const outputDir = join(root, 'test-output');

interface SpecOperation {
  operationId: string;
  tags: string[];
  security?: Record<string, string[]>[];
}

function specOperations(): SpecOperation[] {
  const document = parse(readFileSync(join(root, 'spec', 'openapi.yaml'), 'utf8')) as {
    paths: Record<string, Record<string, SpecOperation>>;
  };
  return Object.values(document.paths).flatMap((item) =>
    Object.entries(item)
      .filter(([method]) => ['get', 'put', 'post', 'delete', 'patch'].includes(method))
      .map(([, operation]) => operation),
  );
}

describe('the API reference at /docs, in headless Chromium', () => {
  const workDir = mkdtempSync(join(tmpdir(), 'dcr-docs-browser-'));
  let bridge: BridgeProcess | undefined;
  let browser: Browser | undefined;
  let page: Page;
  const problems: string[] = [];
  const apiKey = 'docs-browser-key-0001';

  before(async () => {
    const executablePath = findOrInstall('chromium', 'chromium', 'the browser test of /docs');
    const port = await freeLoopbackPort();
    bridge = await startBridgeProcess({ PORT: String(port), DCR_API_KEYS: apiKey }, { cwd: workDir });
    await until(async () => (await fetch(`${bridge!.baseUrl}/readyz`)).status === 200, '/readyz is 200');
    // --no-sandbox: the tests run as root in CI, where Chromium's sandbox refuses to start.
    browser = await chromium.launch({ executablePath, headless: true, args: ['--no-sandbox'] });
    page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    page.on('console', (message) => {
      if (message.type() === 'error' || message.type() === 'warning')
        problems.push(`${message.type()}: ${message.text()}`);
    });
    page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
    page.on('response', (response) => {
      if (response.status() >= 400) problems.push(`${response.status()} for ${response.url()}`);
    });
    page.on('requestfailed', (request) => problems.push(`request failed: ${request.url()}`));
    page.on('request', (request) => {
      if (!request.url().startsWith(bridge!.baseUrl) && !request.url().startsWith('data:'))
        problems.push(`request elsewhere: ${request.url()}`);
    });
    await page.goto(`${bridge.baseUrl}/docs`, { waitUntil: 'networkidle' });
    await page.waitForSelector('.opblock', { timeout: 30_000 });
  });

  after(async () => {
    await browser?.close();
    await bridge?.stop();
    rmSync(workDir, { recursive: true, force: true });
  });

  it('renders every operation of the spec, grouped by tag, with a navigation filter', async () => {
    for (const operation of specOperations()) {
      const id = `#operations-${operation.tags[0]}-${operation.operationId}`;
      assert.equal(await page.locator(id).count(), 1, `${operation.operationId} is rendered (${id})`);
    }
    assert.equal(await page.locator('.opblock').count(), specOperations().length);
    for (const tag of ['api7', 'konnect', 'standard', 'operator', 'operations'])
      assert.equal(await page.locator(`#operations-tag-${tag}`).count(), 1, `the ${tag} section`);
    assert.equal(await page.locator('.operation-filter-input').count(), 1, 'a filter to navigate');
  });

  it('shows the spec examples and renders schemas, with $ref and allOf resolved', async () => {
    await page.locator('#operations-konnect-registerKonnectClient .opblock-summary').click();
    const konnect = page.locator('#operations-konnect-registerKonnectClient');
    await konnect.locator('.body-param__example, .microlight').first().waitFor();
    const text = (await konnect.textContent()) ?? '';
    assert.match(text, /f3a8c1d2-5b6e-4f70-8a9b-0c1d2e3f4a5b/, 'the request example from the spec');
    assert.match(text, /client_id_issued_at/, 'the response example');
    await page.locator('#model-StandardClientInformation, [id="model-StandardClientInformation"]').first().click();
    const model = (await page.locator('[id="model-StandardClientInformation"]').textContent()) ?? '';
    assert.match(model, /registration_access_token/, 'allOf members merged');
    assert.match(model, /client_name/, 'members of the $ref in the allOf');
  });

  it('asks for the registration access token on RFC 7592 calls and for an API key on the portal dialects', async () => {
    const security = (operationId: string) =>
      specOperations().find((operation) => operation.operationId === operationId)?.security ?? [];
    assert.deepEqual(security('readStandardClient'), [{ registrationBearer: [] }]);
    await page.locator('.btn.authorize').click();
    const dialog = (await page.locator('.dialog-ux .modal-ux').textContent()) ?? '';
    assert.match(dialog, /registrationBearer/);
    assert.match(dialog, /registration access token/);
    assert.match(dialog, /apiKey/);
    await page.locator('.dialog-ux .close-modal').click();
    for (const operationId of ['readStandardClient', 'replaceStandardClient', 'deleteStandardClient']) {
      const locks = page.locator(`#operations-standard-${operationId} .authorization__btn`);
      assert.equal(await locks.count(), 1, `${operationId} shows its lock`);
    }
    assert.equal(await page.locator('#operations-operations-health .authorization__btn').count(), 0, 'no lock');
  });

  it('tries an operation against the bridge itself', async () => {
    const health = page.locator('#operations-operations-health');
    await health.locator('.opblock-summary').click();
    await health.locator('.try-out__btn').click();
    await health.locator('.execute').click();
    await health.locator('.live-responses-table .response-col_status').first().waitFor();
    assert.match((await health.locator('.live-responses-table').textContent()) ?? '', /200[\s\S]*"status": "ok"/);
  });

  it('had no console error, CSP violation or request elsewhere, and keeps a screenshot', async () => {
    mkdirSync(outputDir, { recursive: true });
    await page.mouse.wheel(0, -100_000);
    await page.screenshot({ path: join(outputDir, 'docs.png'), fullPage: false });
    assert.deepEqual(problems, []);
  });
});
