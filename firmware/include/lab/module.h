/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Loadable modules, the guest's side of the contract with the host loader (src/kernel/modules.ts).
 * A module is a relocatable object built as Kbuild builds an external module (the firmware
 * Makefile's M= mode: NAME.o, objtool, NAME.mod.c, ld -r into NAME.ko); the host places it,
 * resolves its undefined symbols against the image (static functions included) and other
 * modules' exports, and runs its init in task context (khostd). Modules include the kernel's
 * headers, include/linux/, which map the kernel's API onto these.
 *
 * What the loader looks for, all of it plain ELF the loader reads without running anything:
 *   __this_module       the module's struct module, in .gnu.linkonce.this_module (NAME.mod.c):
 *                       its name, init (fn returns 0 or a negative errno, and then the module
 *                       is unloaded again) and exit
 *   module_init(fn)     init_module, an alias of fn (what __this_module's init points at)
 *   module_exit(fn)     cleanup_module, the same for the exit function
 *   MODULE_LICENSE(..), MODULE_DESCRIPTION(..)   "tag=value" strings in .modinfo; NAME.mod.c
 *                       adds "name=NAME"
 *   EXPORT_SYMBOL(sym)  "sym" in .lab.exports: sym (a global of this module) becomes
 *                       resolvable by modules loaded later; nothing else of a module is
 *   module_param(v, type, perm)   "parmtype=v:type" and "parmperm=v:perm" in .modinfo (perm
 *                       expanded: 0644, or S_IRUGO | S_IWUSR as its octal numbers): the
 *                       loader sets the variable v (int, uint, long, ulong or bool) from
 *                       "v=value" arguments before anything runs, and writes to
 *                       /sys/module/<name>/parameters/v reach it if perm lets the owner write
 *   module_param_array(v, type, nump, perm)   the same for an array, "v=1,2,3"
 *
 * .modinfo and .lab.exports are read by the loader and not placed in guest memory, as the
 * kernel drops SHF_ALLOC from .modinfo.
 */
#ifndef LAB_MODULE_H
#define LAB_MODULE_H
#include <lab/types.h>

/* a macro argument as a string after its expansion: S_IRUGO | S_IWUSR as its octal numbers */
#define __lab_str1(x...)	#x
#define __lab_str(x...)		__lab_str1(x)
#define __lab_cat2(a, b)	a##b
#define __lab_cat(a, b)		__lab_cat2(a, b)
#define __LAB_UNIQUE_ID(prefix) __lab_cat(__lab_cat(__UNIQUE_ID_, prefix), __COUNTER__)

typedef int (*initcall_t)(void);
typedef void (*exitcall_t)(void);

/* A module's entry points, as NAME.mod.c refers to them. */
extern int init_module(void);
extern void cleanup_module(void);

/*
 * The MODULE form of module_init()/module_exit(), as the kernel's: the module's entry points
 * are the global symbols init_module and cleanup_module, aliases of the author's static
 * functions (with their attributes: an __init function is cold). The build's NAME.mod.c points
 * __this_module's init and exit at them; the inline functions only check the argument's type.
 */
#define module_init(initfn)                                      \
	static inline initcall_t __maybe_unused __inittest(void) \
	{                                                        \
		return initfn;                                   \
	}                                                        \
	int init_module(void) __attribute__((copy(initfn), alias(#initfn)))

#define module_exit(exitfn)                                      \
	static inline exitcall_t __maybe_unused __exittest(void) \
	{                                                        \
		return exitfn;                                   \
	}                                                        \
	void cleanup_module(void) __attribute__((copy(exitfn), alias(#exitfn)))

#define __MODULE_INFO(tag, info)                                                             \
	static const char __LAB_UNIQUE_ID(tag)[] __used __section(".modinfo") __aligned(1) = \
		#tag "=" info

#define MODULE_LICENSE(_license)  __MODULE_INFO(license, _license)
#define MODULE_DESCRIPTION(_text) __MODULE_INFO(description, _text)
#define MODULE_AUTHOR(_text)	  __MODULE_INFO(author, _text)

#define EXPORT_SYMBOL(sym)                                                                 \
	static const char __lab_cat(__lab_export_, sym)[] __used __section(".lab.exports") \
		__aligned(1) = #sym

/*
 * struct module, the part the guest sees. A module built as Kbuild builds one (NAME.mod.c, as
 * modpost writes it) carries its own in section .gnu.linkonce.this_module: the loader places
 * it with the module and uses it as the module's struct module -- name and entry points from
 * the build, state kept current by the loader -- as livepatch callbacks look at
 * obj->mod->state. The numbering of the states is the kernel's.
 */
enum module_state {
	MODULE_STATE_LIVE,     /* normal state */
	MODULE_STATE_COMING,   /* fully formed, running module_init */
	MODULE_STATE_GOING,    /* going away */
	MODULE_STATE_UNFORMED, /* still setting it up */
};

#define MODULE_NAME_LEN 56

struct module {
	enum module_state state;
	char name[MODULE_NAME_LEN];
	int (*init)(void);
	void (*exit)(void);
};

/* This module's own, from NAME.mod.c. */
extern struct module __this_module;
#define THIS_MODULE (&__this_module)

/*
 * The parameter's variable must really be in memory (its address escapes, so the compiler
 * cannot fold a static that the module itself never writes), and be of the named type.
 */
typedef int __lab_param_type_int;
typedef unsigned int __lab_param_type_uint;
typedef long __lab_param_type_long;
typedef unsigned long __lab_param_type_ulong;
typedef bool __lab_param_type_bool;

#define module_param(name, type, perm)                                                      \
	_Static_assert(__builtin_types_compatible_p(typeof(name), __lab_param_type_##type), \
		       "module_param " #name ": not of type " #type);                       \
	static void *const __lab_cat(__lab_param_, name) __used = &(name);                  \
	__MODULE_INFO(parmtype, #name ":" #type);                                           \
	__MODULE_INFO(parmperm, #name ":" __lab_str(perm))

/*
 * An array parameter, "v=1,2,3": the loader fills the first elements and stores how many it
 * filled in the unsigned int nump points at (NULL: nowhere). The host reads nump's symbol from
 * the text of the macro argument ("&count" or "NULL").
 */
#define module_param_array(name, type, nump, perm)                                               \
	_Static_assert(__builtin_types_compatible_p(typeof((name)[0]), __lab_param_type_##type), \
		       "module_param_array " #name ": not of type " #type);                      \
	static void *const __lab_cat(__lab_param_, name) __used = &(name);                       \
	static unsigned int *const __lab_cat(__lab_param_num_, name) __used = (nump);            \
	__MODULE_INFO(parmtype, #name ":array of " #type);                                       \
	__MODULE_INFO(parmperm, #name ":" __lab_str(perm));                                      \
	__MODULE_INFO(parmnum, #name ":" #nump)

#define MODULE_PARM_DESC(name, text) __MODULE_INFO(parm, #name ":" text)

#endif
