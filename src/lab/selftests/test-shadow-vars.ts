// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * test-shadow-vars.sh: the shadow variable API (kernel/shadow.c in the guest) driven by
 * test_klp_shadow_vars's init; its pointers printed in the selftest's PTRn numbering.
 */
import type { Selftest } from './index.ts';

const M = 'test_klp_shadow_vars';

export const TEST_SHADOW_VARS: Selftest[] = [
  {
    suite: 'test-shadow-vars',
    name: 'basic shadow variable API',
    boot: { cpus: 4 },
    run(lab) {
      lab.loadMod(M);
      lab.unloadMod(M);
    },
    expected: () => [
      `% modprobe ${M}`,
      `${M}: klp_shadow_get(obj=PTR1, id=0x1234) = PTR0`,
      `${M}:   got expected NULL result`,
      `${M}: shadow_ctor: PTR3 -> PTR2`,
      `${M}: klp_shadow_get_or_alloc(obj=PTR1, id=0x1234, size=8, gfp_flags=GFP_KERNEL), ctor=PTR4, ctor_data=PTR2 = PTR3`,
      `${M}: shadow_ctor: PTR6 -> PTR5`,
      `${M}: klp_shadow_alloc(obj=PTR1, id=0x1235, size=8, gfp_flags=GFP_KERNEL), ctor=PTR4, ctor_data=PTR5 = PTR6`,
      `${M}: shadow_ctor: PTR8 -> PTR7`,
      `${M}: klp_shadow_alloc(obj=PTR9, id=0x1234, size=8, gfp_flags=GFP_KERNEL), ctor=PTR4, ctor_data=PTR7 = PTR8`,
      `${M}: shadow_ctor: PTR11 -> PTR10`,
      `${M}: klp_shadow_alloc(obj=PTR9, id=0x1235, size=8, gfp_flags=GFP_KERNEL), ctor=PTR4, ctor_data=PTR10 = PTR11`,
      `${M}: shadow_ctor: PTR13 -> PTR12`,
      `${M}: klp_shadow_get_or_alloc(obj=PTR14, id=0x1234, size=8, gfp_flags=GFP_KERNEL), ctor=PTR4, ctor_data=PTR12 = PTR13`,
      `${M}: shadow_ctor: PTR16 -> PTR15`,
      `${M}: klp_shadow_alloc(obj=PTR14, id=0x1235, size=8, gfp_flags=GFP_KERNEL), ctor=PTR4, ctor_data=PTR15 = PTR16`,
      `${M}: klp_shadow_get(obj=PTR1, id=0x1234) = PTR3`,
      `${M}:   got expected PTR3 -> PTR2 result`,
      `${M}: klp_shadow_get(obj=PTR1, id=0x1235) = PTR6`,
      `${M}:   got expected PTR6 -> PTR5 result`,
      `${M}: klp_shadow_get(obj=PTR9, id=0x1234) = PTR8`,
      `${M}:   got expected PTR8 -> PTR7 result`,
      `${M}: klp_shadow_get(obj=PTR9, id=0x1235) = PTR11`,
      `${M}:   got expected PTR11 -> PTR10 result`,
      `${M}: klp_shadow_get(obj=PTR14, id=0x1234) = PTR13`,
      `${M}:   got expected PTR13 -> PTR12 result`,
      `${M}: klp_shadow_get(obj=PTR14, id=0x1235) = PTR16`,
      `${M}:   got expected PTR16 -> PTR15 result`,
      `${M}: klp_shadow_get_or_alloc(obj=PTR1, id=0x1234, size=8, gfp_flags=GFP_KERNEL), ctor=PTR4, ctor_data=PTR2 = PTR3`,
      `${M}:   got expected PTR3 -> PTR2 result`,
      `${M}: klp_shadow_get_or_alloc(obj=PTR9, id=0x1234, size=8, gfp_flags=GFP_KERNEL), ctor=PTR4, ctor_data=PTR7 = PTR8`,
      `${M}:   got expected PTR8 -> PTR7 result`,
      `${M}: klp_shadow_get_or_alloc(obj=PTR14, id=0x1234, size=8, gfp_flags=GFP_KERNEL), ctor=PTR4, ctor_data=PTR12 = PTR13`,
      `${M}:   got expected PTR13 -> PTR12 result`,
      `${M}: shadow_dtor(obj=PTR1, shadow_data=PTR3)`,
      `${M}: klp_shadow_free(obj=PTR1, id=0x1234, dtor=PTR17)`,
      `${M}: klp_shadow_get(obj=PTR1, id=0x1234) = PTR0`,
      `${M}:   got expected NULL result`,
      `${M}: shadow_dtor(obj=PTR9, shadow_data=PTR8)`,
      `${M}: klp_shadow_free(obj=PTR9, id=0x1234, dtor=PTR17)`,
      `${M}: klp_shadow_get(obj=PTR9, id=0x1234) = PTR0`,
      `${M}:   got expected NULL result`,
      `${M}: shadow_dtor(obj=PTR14, shadow_data=PTR13)`,
      `${M}: klp_shadow_free(obj=PTR14, id=0x1234, dtor=PTR17)`,
      `${M}: klp_shadow_get(obj=PTR14, id=0x1234) = PTR0`,
      `${M}:   got expected NULL result`,
      `${M}: klp_shadow_get(obj=PTR1, id=0x1235) = PTR6`,
      `${M}:   got expected PTR6 -> PTR5 result`,
      `${M}: klp_shadow_get(obj=PTR9, id=0x1235) = PTR11`,
      `${M}:   got expected PTR11 -> PTR10 result`,
      `${M}: klp_shadow_get(obj=PTR14, id=0x1235) = PTR16`,
      `${M}:   got expected PTR16 -> PTR15 result`,
      `${M}: klp_shadow_free_all(id=0x1235, dtor=PTR0)`,
      `${M}: klp_shadow_get(obj=PTR1, id=0x1235) = PTR0`,
      `${M}:   got expected NULL result`,
      `${M}: klp_shadow_get(obj=PTR9, id=0x1235) = PTR0`,
      `${M}:   got expected NULL result`,
      `${M}: klp_shadow_get(obj=PTR14, id=0x1235) = PTR0`,
      `${M}:   got expected NULL result`,
      `% rmmod ${M}`,
    ],
  },
];
