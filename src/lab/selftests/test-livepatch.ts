// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * test-livepatch.sh: basic function patching, stacked patches, atomic replace (its nop takes
 * the replaced patch's function back to the original and is dropped once the transition is
 * over: e1452b607c48 ("livepatch: Add atomic replace"), d697bad5), and a loadable module's
 * function patched whether the module loads before or after the patch.
 */
import type { Lab } from '../selftest.ts';
import type { Selftest } from './index.ts';
import { patching, unpatching } from './lines.ts';

const LP = 'test_klp_livepatch';
const REPLACE = 'test_klp_atomic_replace';
const TARGET = 'test_klp_mod_target';
const PATCH = 'test_klp_mod_patch';
const SHOW = 'test_klp_mod_target_show';
const ORIGINAL = `${TARGET}: original output\n`;
const PATCHED = `${PATCH}: this has been live patched\n`;

/** grep 'live patched' /proc/cmdline > /dev/kmsg, and the same for /proc/meminfo. */
function grepPatched(lab: Lab): void {
  lab.grepToKmsg('cmdline_proc_show', 'live patched');
  lab.grepToKmsg('meminfo_proc_show', 'live patched');
}

/** The first bytes of a function: its fentry site, a 5-byte NOP or a call. */
const site = (lab: Lab, fn: string) => Buffer.from(lab.k.mem.bytes(lab.k.sym(fn), 5)).toString('hex');

const moduleTail = [...unpatching(PATCH), `% rmmod ${PATCH}`, `% rmmod ${TARGET}`, `${TARGET}: ${TARGET}_exit`];

export const TEST_LIVEPATCH: Selftest[] = [
  {
    suite: 'test-livepatch',
    name: 'basic function patching',
    run(lab) {
      const before = lab.cat('cmdline_proc_show');
      lab.loadLp(LP);
      lab.checkCat('cmdline_proc_show', `${LP}: this has been live patched\n`);
      lab.checkSysfsValue(LP, 'enabled', '1');
      lab.checkSysfsValue(LP, 'transition', '0');
      lab.checkSysfsValue(LP, 'vmlinux/patched', '1');
      lab.disableLp(LP);
      lab.unloadLp(LP);
      lab.checkCat('cmdline_proc_show', before);
    },
    expected: () => [`% modprobe ${LP}`, ...patching(LP), ...unpatching(LP), `% rmmod ${LP}`],
  },
  {
    suite: 'test-livepatch',
    name: 'multiple livepatches',
    run(lab) {
      lab.loadLp(LP);
      grepPatched(lab);
      lab.loadLp(REPLACE, { replace: '0' });
      grepPatched(lab);
      lab.disableLp(REPLACE);
      lab.unloadLp(REPLACE);
      grepPatched(lab);
      lab.disableLp(LP);
      lab.unloadLp(LP);
      grepPatched(lab);
    },
    expected: () => [
      `% modprobe ${LP}`,
      ...patching(LP),
      `${LP}: this has been live patched`,
      `% modprobe ${REPLACE} replace=0`,
      ...patching(REPLACE),
      `${LP}: this has been live patched`,
      `${REPLACE}: this has been live patched`,
      ...unpatching(REPLACE),
      `% rmmod ${REPLACE}`,
      `${LP}: this has been live patched`,
      ...unpatching(LP),
      `% rmmod ${LP}`,
    ],
  },
  {
    suite: 'test-livepatch',
    name: 'atomic replace livepatch',
    run(lab) {
      const nop5 = site(lab, 'cmdline_proc_show');
      lab.loadLp(LP);
      lab.check(site(lab, 'cmdline_proc_show') !== nop5, 'cmdline_proc_show calls the ftrace trampoline');
      grepPatched(lab);
      lab.loadLpNowait(REPLACE, { replace: '1' });
      // in transition: the replace patch carries a dynamic nop func for cmdline_proc_show
      const rp = lab.lp.patch(REPLACE);
      const nops = rp.objs.flatMap((o) => o.funcs.filter((f) => f.nop).map((f) => f.oldName));
      lab.check(nops.join() === 'cmdline_proc_show', `a nop for cmdline_proc_show (nops: ${nops.join() || 'none'})`);
      lab.check(
        lab.lp.sysfsTree().includes(`/sys/kernel/livepatch/${REPLACE}/vmlinux/cmdline_proc_show,1/`),
        'the nop has its sysfs directory',
      );
      lab.waitForTransition(REPLACE);
      // complete: the replaced patch is gone, the nop discarded, the site a 5-byte NOP again
      lab.check(lab.lp.patches.map((p) => p.name).join() === REPLACE, `only ${REPLACE} is installed`);
      lab.check(
        rp.objs
          .flatMap((o) => o.funcs)
          .map((f) => f.oldName)
          .join() === 'meminfo_proc_show',
        'the nop was discarded',
      );
      lab.check(!lab.lp.sysfsTree().some((l) => l.includes('cmdline_proc_show')), 'no sysfs entry for cmdline_proc_show');
      lab.check(site(lab, 'cmdline_proc_show') === nop5, 'cmdline_proc_show starts with its 5-byte NOP again');
      grepPatched(lab);
      // the replaced patch's module is free to go without a disable
      lab.unloadLp(LP);
      grepPatched(lab);
      lab.disableLp(REPLACE);
      lab.unloadLp(REPLACE);
      grepPatched(lab);
    },
    expected: () => [
      `% modprobe ${LP}`,
      ...patching(LP),
      `${LP}: this has been live patched`,
      `% modprobe ${REPLACE} replace=1`,
      ...patching(REPLACE),
      `${REPLACE}: this has been live patched`,
      `% rmmod ${LP}`,
      `${REPLACE}: this has been live patched`,
      ...unpatching(REPLACE),
      `% rmmod ${REPLACE}`,
    ],
  },
  {
    suite: 'test-livepatch',
    name: 'module function patching, target first',
    run(lab) {
      lab.loadMod(TARGET);
      lab.checkCat(SHOW, ORIGINAL);
      lab.loadLp(PATCH);
      lab.checkCat(SHOW, PATCHED);
      lab.disableLp(PATCH);
      lab.unloadLp(PATCH);
      lab.checkCat(SHOW, ORIGINAL);
      lab.unloadMod(TARGET);
    },
    expected: () => [`% modprobe ${TARGET}`, `${TARGET}: ${TARGET}_init`, `% modprobe ${PATCH}`, ...patching(PATCH), ...moduleTail],
  },
  {
    suite: 'test-livepatch',
    name: 'module function patching, livepatch first',
    run(lab) {
      lab.loadLp(PATCH);
      lab.checkSysfsValue(PATCH, `${TARGET}/patched`, '0');
      lab.loadMod(TARGET);
      lab.checkSysfsValue(PATCH, `${TARGET}/patched`, '1');
      lab.checkCat(SHOW, PATCHED);
      lab.disableLp(PATCH);
      lab.unloadLp(PATCH);
      lab.checkCat(SHOW, ORIGINAL);
      lab.unloadMod(TARGET);
    },
    expected: () => [
      `% modprobe ${PATCH}`,
      ...patching(PATCH),
      `% modprobe ${TARGET}`,
      `livepatch: applying patch '${PATCH}' to loading module '${TARGET}'`,
      `${TARGET}: ${TARGET}_init`,
      ...moduleTail,
    ],
  },
];
