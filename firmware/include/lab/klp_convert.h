/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Annotations for klp-convert (src/elf/klp-convert.ts, run by the firmware Makefile on patch
 * modules that use them): a livepatch module that needs a symbol the module loader cannot
 * bind -- a static function or variable of vmlinux or of a module, or one of several with the
 * same name -- declares it extern and lists it here with the object that defines it and its
 * position among that object's symbols of the same name (kallsyms order, 0: the only one):
 *
 *	extern int lab_static_counter;
 *	KLP_MODULE_RELOC(vmlinux) vmlinux_relocs[] = {
 *		KLP_SYMPOS(lab_static_counter, 0),
 *	};
 *
 * klp-convert turns every reference to those symbols into a .klp.rela.<object>.* relocation
 * against .klp.sym.<object>.<symbol>,<sympos>, which the livepatch core resolves when the
 * object is loaded, and drops the arrays: they never reach guest memory.
 */
#ifndef LAB_KLP_CONVERT_H
#define LAB_KLP_CONVERT_H

struct klp_module_reloc {
	void *sym;
	unsigned int sympos;
} __attribute__((packed));

#define KLP_MODULE_RELOC(obj)                \
	static const struct klp_module_reloc \
		__attribute__((used, section(".klp.module_relocs." #obj)))

#define KLP_SYMPOS(symbol, pos)                           \
	{                                                 \
		.sym = (void *)&(symbol), .sympos = (pos) \
	}

#endif
