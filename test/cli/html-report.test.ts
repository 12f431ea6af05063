// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The HTML report of a stalled session (test_klp_deep, its transition held up by kthreads
 * asleep inside the patched functions, as in the README) in a real headless Chromium: Debian's
 * chromium, which the bootstrap installs, driven by puppeteer-core over the DevTools protocol.
 * The page loads from a file with no console error and no request of its own, shows the
 * blocked task with its stack and the code around the blocking address, its log links move the
 * timeline, and the wheel zooms it. The screenshot is kept in build/test-output/.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import puppeteer from 'puppeteer-core';
import { withLab } from '../helpers.ts';
import { parseStep, runStep } from '../../src/lab/steps.ts';
import { captureReport, writeReport } from '../../src/cli/html-report.ts';
import { ROOT } from './helpers.ts';

const CHROMIUM = '/usr/bin/chromium';
const OUT = `${ROOT}build/test-output/`;

describe('the HTML report in Chromium', () => {
  it('shows the task that blocks a stalled transition, its stack and code, with no console error', async () => {
    expect(existsSync(CHROMIUM), `${CHROMIUM} is missing: bash scripts/bootstrap.sh installs Debian's chromium`).toBe(true);
    mkdirSync(OUT, { recursive: true });
    const file = `${OUT}report-stalled.html`;
    // as `--html` boots it: with the entry records (interrupts, user/kernel mode)
    await withLab({ cpus: 4, workload: 'default', traceEntry: true }, (lab) => {
      for (const s of ['insmod:test_klp_deep', 'run:2500']) runStep(lab, parseStep(s));
      expect(lab.lp.transitionPatch?.name).toBe('test_klp_deep');
      writeReport(file, [captureReport(lab, '')], 'stalled test_klp_deep');
    });

    const browser = await puppeteer.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-gpu'] });
    try {
      const page = await browser.newPage();
      await page.setViewport({ width: 1400, height: 1000 });
      const problems: string[] = [];
      const requests: string[] = [];
      page.on('console', (m) => {
        if (m.type() === 'error' || m.type() === 'warn') problems.push(`console ${m.type()}: ${m.text()}`);
      });
      page.on('pageerror', (e) => problems.push(`page error: ${(e as Error).message}`));
      page.on('request', (r) => requests.push(r.url()));
      await page.goto(`file://${file}`, { waitUntil: 'load' });

      const stalled = await page.$eval('#stalled-body', (el) => (el as HTMLElement).innerText);
      expect(stalled).toMatch(/kdeep\/\d pid \d+ sleeping on function deep_[a-f]/);
      // the symbolized reliable stack trace and the disassembly with the blocking call marked
      expect(stalled).toContain('deep_sleeper+0x');
      expect(stalled).toContain('ret_from_fork+0x');
      const marked = await page.$$eval('.task .disasm .mark', (els) => els.map((e) => (e as HTMLElement).innerText));
      expect(marked.length).toBeGreaterThan(0);
      expect(marked[0]).toMatch(/^=> deep_[a-f]\+0x[0-9a-f]+ +call /);
      // the timeline has its rows: vCPUs, the transition, the tasks
      const rows = await page.evaluate(() =>
        (window as unknown as { klpReport: { rows: { label: string }[] } }).klpReport.rows.map((r) => r.label),
      );
      expect(rows).toEqual(expect.arrayContaining(['cpu0', 'cpu3', 'transitions', 'tasks pending', 'kdeep/0 (pid 4, kernel thread)']));
      // each vCPU's row has its interrupts, a user task's row its time in user mode
      const strips = await page.evaluate(() =>
        (window as unknown as { klpReport: { rows: { label: string; irqs?: { name: string }[]; user?: unknown[] }[] } }).klpReport.rows.map(
          (r) => ({ label: r.label, irqs: (r.irqs ?? []).map((i) => i.name), user: (r.user ?? []).length }),
        ),
      );
      for (const c of ['cpu0', 'cpu1', 'cpu2', 'cpu3']) expect(strips.find((r) => r.label === c)!.irqs).toContain('timer');
      expect(strips.find((r) => r.label.startsWith('uhammer '))!.user).toBeGreaterThan(10);
      expect(strips.find((r) => r.label.startsWith('kdeep/0 '))!.user).toBe(0);

      // a log timestamp moves the timeline's cursor to its moment
      const link = await page.$$eval('#log-body a[data-ns]', (as) => as.map((a) => Number((a as HTMLElement).dataset.ns)));
      expect(link.length).toBeGreaterThan(0);
      await page.click(`#log-body a[data-ns="${link.at(-1)}"]`);
      const view = () =>
        page.evaluate(() => {
          const v = (window as unknown as { klpReport: { t0: number; t1: number; cursor: number | null } }).klpReport;
          return { t0: v.t0, t1: v.t1, cursor: v.cursor };
        });
      const after = await view();
      expect(after.cursor).toBe(link.at(-1)! / 1000);
      expect(after.t0).toBeLessThanOrEqual(after.cursor!);
      expect(after.t1).toBeGreaterThanOrEqual(after.cursor!);
      // the wheel zooms in around the pointer
      await page.click('#fit');
      const before = await view();
      const box = (await (await page.$('#canvas'))!.boundingBox())!;
      await page.mouse.move(box.x + box.width * 0.6, box.y + 40);
      await page.mouse.wheel({ deltaY: -300 });
      const zoomed = await view();
      expect(zoomed.t1 - zoomed.t0).toBeLessThan(before.t1 - before.t0);

      await page.click('#fit');
      await page.screenshot({ path: `${OUT}report-stalled.png`, fullPage: true });
      expect(problems).toEqual([]);
      expect(requests.filter((u) => !u.startsWith('file://'))).toEqual([]);
    } finally {
      await browser.close();
    }
  }, 180_000);
});
