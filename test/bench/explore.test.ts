// SPDX-License-Identifier: GPL-2.0-or-later
// The explorer's benchmark (bench/explore.ts) at a tiny size, so its code paths keep working:
// a basic campaign with one worker and with two, and each quirk's time to its first violation.
import { describe, expect, it } from 'vitest';
import { formatExplore, measureExplore } from '../../bench/explore.ts';
import { QUIRKS } from '../../src/lab/quirks.ts';

describe('explorer benchmark, tiny', () => {
  it('measures schedules per second with 1 and 2 workers and each quirk, and reports them', async () => {
    const b = await measureExplore(2, 3);
    expect(b.rate1).toBeGreaterThan(0);
    expect(b.rate2).toBeGreaterThan(0);
    expect(b.quirks.map((q) => q.name)).toEqual(QUIRKS.map((q) => q.name));
    // the fork race shows in every schedule; other quirks may need more than 3
    expect(b.quirks.find((q) => q.name === 'fork-race')?.index).toBe(0);
    const text = formatExplore(b).join('\n');
    expect(text).toMatch(/schedules per second per core \(1 worker\)/);
    expect(text).toMatch(/ratio 2\/1 workers \d+\.\d\d/);
  });
});
