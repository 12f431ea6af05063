// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Dynamic debug: the control file's query language on its own (a table of made-up
 * descriptors), then on real firmware -- a pr_debug in the image and one in a module, off at
 * boot, printed only while switched on -- and the livepatch core's host sites under the
 * kernel's file names.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { useLab } from '../helpers.ts';
import { DdebugQueryError, DynamicDebug, HostDescriptor, matchWildcard, parseQueries, parseQuery } from '../../src/kernel/dynamic-debug.ts';

function table(): { dd: DynamicDebug; d: HostDescriptor[] } {
  const d = [
    new HostDescriptor('livepatch', 'kernel/livepatch/transition.c', 'klp_init_transition', "'%s': initializing %s transition\n", 10),
    new HostDescriptor('livepatch', 'kernel/livepatch/transition.c', 'klp_try_switch_task', '%s: %s:%d is running\n', 20),
    new HostDescriptor('livepatch', 'kernel/livepatch/core.c', 'klp_enable_patch', 'patch\t"%s"\n', 30),
    new HostDescriptor('test_klp_mod', 'test_klp_mod.c', 'mod_fn', 'mod says %d\n', 5),
  ];
  const dd = new DynamicDebug();
  dd.addTable('t', d);
  return { dd, d };
}
const on = (d: HostDescriptor[]) => d.map((x) => x.flags);

describe('dynamic debug queries', () => {
  it('parses keywords, quoted words, line ranges and flag operations', () => {
    expect(parseQuery('file kernel/livepatch/* +p')).toMatchObject({ file: 'kernel/livepatch/*', op: '+', flags: 1 });
    expect(parseQuery('  func klp_try_switch_task   -p  # per-task lines')).toMatchObject({
      func: 'klp_try_switch_task',
      op: '-',
      flags: 1,
    });
    expect(parseQuery('format "is running" module livepatch =pmflt')).toMatchObject({
      format: 'is running',
      module: 'livepatch',
      op: '=',
      flags: 31,
    });
    expect(parseQuery("format 'a\\tb' =_")).toMatchObject({ format: 'a\tb', op: '=', flags: 0 });
    expect(parseQuery('line 10-20 +p')).toMatchObject({ firstLine: 10, lastLine: 20 });
    expect(parseQuery('line 7 +p')).toMatchObject({ firstLine: 7, lastLine: 7 });
    expect(parseQuery('line -20 +p')).toMatchObject({ firstLine: 0, lastLine: 20 });
    expect(parseQuery('line 20- +p')).toMatchObject({ firstLine: 20, lastLine: Number.MAX_SAFE_INTEGER });
    expect(parseQuery('   # only a comment')).toBeNull();
    expect(parseQueries('file a.c +p; func f -p\nmodule m +f\n\n').map((q) => q.text)).toEqual(['file a.c +p', 'func f -p', 'module m +f']);
  });

  it('refuses bad queries with -EINVAL, naming the problem', () => {
    const bad: Array<[string, RegExp]> = [
      ['file a.c', /bad flag-op/],
      ['file a.c p', /bad flag-op 'p'/],
      ['file a.c +x', /unknown flag 'x'/],
      ['fil a.c +p', /unknown keyword 'fil'/],
      ['file a.c func +p', /expecting pairs/],
      ['file a.c file b.c +p', /'file' given twice/],
      ['line 20-10 +p', /last-line:10 < 1st-line:20/],
      ['line x +p', /bad line-number range 'x'/],
      ['format "open +p', /unclosed quote/],
    ];
    for (const [q, re] of bad) {
      const e = (() => {
        try {
          parseQueries(q);
        } catch (err) {
          return err;
        }
      })();
      expect(e, q).toBeInstanceOf(DdebugQueryError);
      expect((e as DdebugQueryError).errno).toBe(-22);
      expect((e as Error).message, q).toMatch(re);
    }
  });

  it('matches wildcards, file base names, formats and lines; a bad query in a batch applies nothing', () => {
    expect(matchWildcard('klp_*_task', 'klp_try_switch_task')).toBe(true);
    expect(matchWildcard('klp_?nit*', 'klp_init_transition')).toBe(true);
    expect(matchWildcard('klp_init', 'klp_init_transition')).toBe(false);
    const { dd, d } = table();
    expect(on(d)).toEqual([0, 0, 0, 0]);
    expect(dd.write('file kernel/livepatch/* +p\nfunc klp_try_switch_task -p')).toBe(4);
    expect(on(d)).toEqual([1, 0, 1, 0]);
    dd.write('file transition.c =mf'); // a file's last component is enough
    expect(on(d)).toEqual([6, 6, 1, 0]);
    dd.write('format "is running" +p; line 25-40 -p; module test_klp_* +l');
    expect(on(d)).toEqual([6, 7, 0, 8]);
    expect(() => dd.write('module * =_; bogus +p')).toThrow(DdebugQueryError);
    expect(on(d)).toEqual([6, 7, 0, 8]);
    dd.write('=_');
    expect(on(d)).toEqual([0, 0, 0, 0]);
  });

  it('reads back in the kernel\'s `file:line [module]function =flags "format"` form', () => {
    const { dd } = table();
    dd.write('func klp_enable_patch +pf');
    expect(dd.read().split('\n')).toEqual([
      '# filename:lineno [module]function flags format',
      `kernel/livepatch/transition.c:10 [livepatch]klp_init_transition =_ "'%s': initializing %s transition\\n"`,
      'kernel/livepatch/transition.c:20 [livepatch]klp_try_switch_task =_ "%s: %s:%d is running\\n"',
      'kernel/livepatch/core.c:30 [livepatch]klp_enable_patch =pf "patch\\t\\"%s\\"\\n"',
      'test_klp_mod.c:5 [test_klp_mod]mod_fn =_ "mod says %d\\n"',
      '',
    ]);
  });
});

describe('dynamic debug on the firmware', () => {
  const boot = useLab({}, { start: false });

  it('gates a pr_debug of the image and of a module, on and off, with its prefix flags', async () => {
    const lab = await boot({ cpus: 2, workload: 'idle' });
    const dd = lab.dynamicDebug;
    const control = dd.read().split('\n');
    // the image's site, by its file and KBUILD_MODNAME; the core's host sites, by the kernel's names
    const meminfo = control.find((l) => l.includes('meminfo_proc_show'))!;
    expect(meminfo).toMatch(/^kernel\/proc\.c:\d+ \[proc\]meminfo_proc_show =_ "meminfo: %u threads\\n"$/);
    const line = Number(/:(\d+) /.exec(meminfo)![1]);
    expect(control).toContainEqual(
      expect.stringMatching(/^kernel\/livepatch\/transition\.c:\d+ \[livepatch\]klp_try_switch_task =_ "%s: %s:%d is running\\n"$/),
    );
    expect(control).toContainEqual(expect.stringMatching(/^kernel\/livepatch\/transition\.c:\d+ \[livepatch\]klp_init_transition =_ /));

    const debugLines = () => lab.logSinceStart().filter((l) => l.includes('meminfo:') || l.includes('greet'));
    lab.startTest();
    lab.cat('meminfo_proc_show');
    expect(debugLines()).toEqual([]); // off at boot

    expect(dd.write('file proc.c +p')).toBe(1);
    expect(dd.read()).toContain(`kernel/proc.c:${line} [proc]meminfo_proc_show =p "meminfo: %u threads\\n"`);
    lab.cat('meminfo_proc_show');
    dd.write(`module proc line ${line} +mfl`);
    lab.cat('meminfo_proc_show');
    dd.write('func meminfo_proc_show -p');
    lab.cat('meminfo_proc_show');
    const threads = /Threads: (\d+)/.exec(lab.cat('meminfo_proc_show'))![1];
    expect(debugLines()).toEqual([`meminfo: ${threads} threads`, `proc:meminfo_proc_show:${line}: meminfo: ${threads} threads`]);

    // a module brings its own descriptors, and takes them away
    lab.loadMod('lab_mod_hello');
    expect(dd.read()).toMatch(/lab_mod_hello\.c:\d+ \[lab_mod_hello\]lab_hello_greet =_ "greet %ld\\n"/);
    const greet = lab.modules.symbol('lab_hello_greet');
    lab.k.host.run(
      'greet',
      (function* () {
        yield { fn: greet, args: [1n] };
      })(),
    );
    expect(dd.write('module lab_mod_* +p')).toBe(1);
    lab.k.host.run(
      'greet',
      (function* () {
        yield { fn: greet, args: [2n] };
      })(),
    );
    expect(debugLines()).toContain('greet 2');
    expect(debugLines()).not.toContain('greet 1');
    lab.unloadMod('lab_mod_hello');
    expect(dd.read()).not.toContain('lab_mod_hello');
    expect(dd.write('module lab_mod_* +p')).toBe(0);
  });

  it("switches the livepatch core's pr_debug lines; a host site's line is its declaration's in our source", async () => {
    const lab = await boot({ cpus: 2, workload: 'idle' });
    const running = lab.dynamicDebug
      .read()
      .split('\n')
      .find((l) => l.includes('is running'))!;
    const src = readFileSync(new URL('../../src/livepatch/transition.ts', import.meta.url), 'utf8').split('\n');
    expect(src[Number(/:(\d+) /.exec(running)![1]) - 1]).toContain("'klp_try_switch_task', '%s: %s:%d is running\\n'");
    lab.startTest();
    lab.loadLp('test_klp_livepatch');
    expect(lab.logSinceStart().filter((l) => l.includes('transition'))).toEqual([
      "livepatch: 'test_klp_livepatch': starting patching transition", // pr_notice: always
    ]);
    lab.dynamicDebug.write('file kernel/livepatch/* +p');
    lab.disableLp('test_klp_livepatch');
    expect(lab.logSinceStart().filter((l) => l.includes('unpatching transition'))).toEqual([
      "livepatch: 'test_klp_livepatch': initializing unpatching transition",
      "livepatch: 'test_klp_livepatch': starting unpatching transition",
      "livepatch: 'test_klp_livepatch': completing unpatching transition",
    ]);
  });
});
