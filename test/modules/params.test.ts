// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Module parameters: `modprobe m name=value` sets the module's variable before its init runs,
 * /sys/module/<m>/parameters/<name> reads and (if the mode lets the owner write) writes it,
 * and a bad argument is a typed error that changes no guest byte.
 */
import { describe, expect, it } from 'vitest';
import { ModuleParamError } from '../../src/kernel/modparams.ts';
import { fixture, ramHash, withModules } from './helpers.ts';

describe('module parameters', () => {
  it('sets values before init, reads and writes them through sysfs', () =>
    withModules({}, (k, ms) => {
      // the init sees the value: with block_transition=N its work function runs to the end first
      ms.load(fixture('test_klp_callbacks_busy'), { block_transition: 'N' });
      expect(k.log.ofType('printk').map((e) => e.text)).toContain('test_klp_callbacks_busy: busymod_work_func exit');
      expect(ms.param('test_klp_callbacks_busy', 'block_transition')).toBe('N');
      ms.setParam('test_klp_callbacks_busy', 'block_transition', 'y');
      expect(ms.param('test_klp_callbacks_busy', 'block_transition')).toBe('Y');

      const hello = ms.load(fixture('lab_mod_hello'), { hello_base: '-0x10' });
      expect(ms.param('lab_mod_hello', 'hello_base')).toBe('-16');
      expect(k.mem.s64(hello.findSymbol('hello_base'))).toBe(-16n);
      // 0444: read-only
      expect(() => ms.setParam('lab_mod_hello', 'hello_base', '1')).toThrow(/not writable.*0444.*-EPERM/);
      expect(() => ms.param('lab_mod_hello', 'nope')).toThrow(ModuleParamError);
    }));

  it('refuses unknown names and bad values with guest memory untouched', () =>
    withModules({}, (k, ms) => {
      const before = ramHash(k);
      const bad: Array<[Record<string, string>, RegExp]> = [
        [{ nope: '1' }, /unknown parameter 'nope' \(the module has pre_patch_ret\).*-ENOENT/],
        [{ pre_patch_ret: 'twelve' }, /'twelve' invalid for parameter 'pre_patch_ret' \(int\).*-EINVAL/],
        [{ pre_patch_ret: '2147483648' }, /out of range for parameter 'pre_patch_ret'.*-ERANGE/],
      ];
      for (const [params, msg] of bad) {
        let err: unknown;
        try {
          ms.load(fixture('test_klp_callbacks_demo'), params);
        } catch (e) {
          err = e;
        }
        expect(err).toBeInstanceOf(ModuleParamError);
        expect((err as Error).message).toMatch(msg);
        expect(ms.isLoaded('test_klp_callbacks_demo')).toBe(false);
        expect(ramHash(k)).toBe(before);
      }
      expect(() => ms.load(fixture('test_klp_callbacks_busy'), { block_transition: 'maybe' })).toThrow(
        /invalid for parameter 'block_transition' \(bool\)/,
      );
      expect(ramHash(k)).toBe(before);
    }));
});
