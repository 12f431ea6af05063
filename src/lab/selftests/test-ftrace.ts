// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * test-ftrace.sh: livepatch and the kernel.ftrace_enabled sysctl. With the sysctl at 0 a patch
 * cannot register its (permanent) ftrace handler, so its load fails and is rolled back; at 1
 * it loads, and then the sysctl cannot go back to 0 while the patch is registered.
 */
import type { Selftest } from './index.ts';
import { patching, unpatching } from './lines.ts';

const LP = 'test_klp_livepatch';
const PATCHED = `${LP}: this has been live patched\n`;

export const TEST_FTRACE: Selftest[] = [
  {
    suite: 'test-ftrace',
    name: 'livepatch interaction with ftrace_enabled sysctl',
    run(lab) {
      lab.setFtraceEnabled('0');
      lab.loadFailingMod(LP);
      lab.setFtraceEnabled('1');
      lab.loadLp(LP);
      lab.checkCat('cmdline_proc_show', PATCHED);
      lab.setFtraceEnabled('0', true);
      lab.checkCat('cmdline_proc_show', PATCHED);
      lab.disableLp(LP);
      lab.unloadLp(LP);
    },
    expected: () => [
      'livepatch: kernel.ftrace_enabled = 0',
      `% modprobe ${LP}`,
      `livepatch: enabling patch '${LP}'`,
      `livepatch: '${LP}': initializing patching transition`,
      "livepatch: failed to register ftrace handler for function 'cmdline_proc_show' (-16)",
      "livepatch: failed to patch object 'vmlinux'",
      `livepatch: failed to enable patch '${LP}'`,
      `livepatch: '${LP}': canceling patching transition, going to unpatch`,
      `livepatch: '${LP}': completing unpatching transition`,
      `livepatch: '${LP}': unpatching complete`,
      `modprobe: ERROR: could not insert '${LP}': Device or resource busy`,
      'livepatch: kernel.ftrace_enabled = 1',
      `% modprobe ${LP}`,
      ...patching(LP),
      'livepatch: sysctl: setting key "kernel.ftrace_enabled": Device or resource busy',
      ...unpatching(LP),
      `% rmmod ${LP}`,
    ],
  },
];
