// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Processes of the host that live in the guest as user tasks: what a kernel's binfmt_elf and
 * clone3() with set_tid do, for the host. A program built for the lab (a static
 * position-independent executable, firmware/scripts/Makefile.user) is loaded into host-managed
 * guest memory, a copy per process so processes never share data, relocated for where it lands
 * (R_X86_64_RELATIVE, the only relocation such an executable has), and entered by a new user
 * task whose pid is the one the host asked for: a host process that stands for the task (a
 * selftest's `./prog &`) gives its own pid, so the pid a script sees is the guest task's.
 *
 * The task's stdout and stderr are its host process's: its write(1 or 2) reaches the host
 * (HC_PROC_WRITE), as does its exit (HC_PROC_EXIT), and the host hands both to whoever spawned
 * it. The program's memory goes back when the task exits: by then it never returns to user mode.
 */
import { EEXIST, ElfFile, type ElfSegment, errnoName, PF_X, PT_LOAD, SHT_RELA } from '../elf/index.ts';
import { callGuest, type HostTask } from './hostcall.ts';
import type { Kernel } from './kernel.ts';
import { cpuCurr, findTaskByPid } from './task.ts';

const ET_DYN = 3;
const PT_INTERP = 3;
const R_X86_64_RELATIVE = 8;
const RELA_SIZE = 24;
/** The most bytes one write hands over (a bigger write is cut short, as a pipe's can be). */
const MAX_WRITE = 1 << 16;

/** A spawn the kernel refused: the errno name and what was wrong. */
export class ExecError extends Error {
  constructor(
    readonly errno: string,
    readonly file: string,
    message: string,
  ) {
    super(`${file}: ${message}`);
    this.name = 'ExecError';
  }
}

/** Where a spawned task's output and end go (the host process standing for it). */
export interface ProcessIo {
  output(fd: 1 | 2, data: Uint8Array): void;
  /**
   * The task ended: `status` is what a shell's $? gives (128 + the signal for a task a signal's
   * default action ended), `signal` that signal or 0, so that a stand-in can die of it too.
   */
  exit(status: number, signal: number): void;
}

interface UserProcess {
  readonly pid: number;
  readonly file: string;
  /** The block of host memory holding the program's image and its argv. */
  readonly memory: bigint;
  readonly io: ProcessIo;
}

/** A program laid out for one process: its memory, entry point and argv in guest memory. */
interface LoadedProgram {
  memory: bigint;
  entry: bigint;
  argv: bigint;
}

export class UserProcesses {
  private readonly procs = new Map<number, UserProcess>();

  constructor(private readonly k: Kernel) {
    const L = k.layout;
    k.host.register(L.constant('HC_PROC_WRITE'), (cpu, a) => this.write(cpu.index, a.a0, a.a1, a.a2));
    k.host.register(L.constant('HC_PROC_EXIT'), (cpu, a) => this.exited(cpu.index, a.a0));
  }

  /** The pids of the spawned tasks that have not exited yet. */
  get pids(): number[] {
    return [...this.procs.keys()];
  }

  /**
   * Loads `file` and starts it as a user task with pid `pid`, entering main(argc, argv).
   * Throws ExecError: ENOENT or EACCES for the file, ENOEXEC for a file that is not a lab
   * program, EINVAL for a bad pid, EEXIST if a task has that pid; nothing is left in guest memory
   * then.
   */
  spawn(file: string, argv: readonly string[], pid: number, io: ProcessIo): number {
    if (!Number.isInteger(pid) || pid <= 0 || pid > 0x7fffffff) throw new ExecError('EINVAL', file, `pid ${pid} is not a positive pid`);
    if (this.procs.has(pid) || findTaskByPid(this.k, pid)) throw new ExecError('EEXIST', file, `pid ${pid} is taken by a task of the lab`);
    const elf = readProgram(file);
    const prog = this.load(elf, argv);
    const k = this.k;
    this.procs.set(pid, { pid, file, memory: prog.memory, io });
    let ret: number;
    try {
      function* start(): HostTask<bigint> {
        return yield* callGuest(k.sym('user_task_spawn'), prog.entry, BigInt(argv.length), prog.argv, BigInt(pid));
      }
      ret = Number(BigInt.asIntN(64, k.host.run(`spawn ${file}`, start())));
    } catch (e) {
      this.forget(pid);
      throw e;
    }
    if (ret < 0) {
      this.forget(pid);
      throw new ExecError(
        errnoName(ret),
        file,
        ret === -EEXIST ? `pid ${pid} is taken by a task of the lab` : `the kernel refused the task (${errnoName(ret)})`,
      );
    }
    return ret;
  }

  /** Lays the program and its argv out in a fresh block of host memory. */
  private load(elf: ElfFile, argv: readonly string[]): LoadedProgram {
    const file = elf.fileName;
    if (elf.type !== ET_DYN)
      throw new ExecError(
        'ENOEXEC',
        file,
        'not a position-independent executable (link it with -static-pie, as firmware/scripts/Makefile.user does)',
      );
    if (elf.segments.some((s) => s.type === PT_INTERP))
      throw new ExecError('ENOEXEC', file, 'wants a dynamic linker: the lab runs static programs only');
    const loads = elf.segments.filter((s) => s.type === PT_LOAD);
    if (!loads.length) throw new ExecError('ENOEXEC', file, 'has no loadable segment');
    const span = loads.reduce((m, s) => (s.vaddr + BigInt(s.memsz) > m ? s.vaddr + BigInt(s.memsz) : m), 0n);
    const relocs = relativeRelocations(elf, span);
    if (elf.entry >= span) throw new ExecError('ENOEXEC', file, `entry point 0x${elf.entry.toString(16)} is outside the program`);

    const strings = argv.map((a) => Buffer.from(`${a}\0`, 'utf8'));
    const imageSize = Number((span + 4095n) & ~4095n);
    const argvSize = 8 * (argv.length + 1) + strings.reduce((n, s) => n + s.length, 0);
    const memory = this.k.hostMem.alloc(imageSize + argvSize, 4096, `the program ${file}`);
    const mem = this.k.mem;
    for (const s of loads) mem.write(memory + s.vaddr, s.data());
    for (const r of relocs) mem.setU64(memory + r.offset, BigInt.asUintN(64, memory + r.addend));
    // the code last, once relocated: the instruction counter learns its instruction starts
    for (const s of loads.filter((x: ElfSegment) => x.flags & PF_X))
      this.k.machine.writeCode(memory + s.vaddr, mem.bytes(memory + s.vaddr, s.filesz).slice());
    const argvAt = memory + BigInt(imageSize);
    let str = argvAt + BigInt(8 * (argv.length + 1));
    strings.forEach((s, i) => {
      mem.setU64(argvAt + BigInt(8 * i), str);
      mem.write(str, s);
      str += BigInt(s.length);
    });
    return { memory, entry: memory + elf.entry, argv: argvAt };
  }

  /** HC_PROC_WRITE(fd, buf, len) from the task current on `cpu`: its output. */
  private *write(cpu: number, fd: bigint, buf: bigint, len: bigint): HostTask<bigint> {
    const proc = this.procs.get(cpuCurr(this.k, cpu).pid);
    if (!proc || (fd !== 1n && fd !== 2n)) return -9n; // EBADF
    const n = Number(len > BigInt(MAX_WRITE) ? BigInt(MAX_WRITE) : len);
    if (n < 0 || !this.k.mem.contains(buf, n)) return -14n; // EFAULT
    proc.io.output(Number(fd) as 1 | 2, this.k.mem.bytes(buf, n).slice());
    return BigInt(n);
  }

  /** HC_PROC_EXIT(code) from the task current on `cpu`, in do_exit(): `code` is a wait status. */
  private *exited(cpu: number, code: bigint): HostTask<bigint> {
    const pid = cpuCurr(this.k, cpu).pid;
    const proc = this.procs.get(pid);
    if (proc) {
      this.forget(pid);
      const signal = Number(code & 0x7fn);
      proc.io.exit(signal ? 128 + signal : Number((code >> 8n) & 0xffn), signal);
    }
    return 0n;
  }

  private forget(pid: number): void {
    const proc = this.procs.get(pid);
    if (!proc) return;
    this.procs.delete(pid);
    this.k.hostMem.release(proc.memory);
  }
}

/** The file as an ELF; a missing or unreadable one is ENOENT or EACCES, a damaged one ENOEXEC. */
function readProgram(file: string): ElfFile {
  try {
    return ElfFile.read(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new ExecError('ENOENT', file, 'No such file or directory');
    if (code === 'EACCES') throw new ExecError('EACCES', file, 'Permission denied');
    if (code === 'EISDIR') throw new ExecError('EACCES', file, 'Is a directory');
    throw new ExecError('ENOEXEC', file, (e as Error).message);
  }
}

/** The R_X86_64_RELATIVE relocations of a static PIE; any other relocation is refused. */
function relativeRelocations(elf: ElfFile, span: bigint): { offset: bigint; addend: bigint }[] {
  const out: { offset: bigint; addend: bigint }[] = [];
  for (const sec of elf.sections.filter((s) => s.type === SHT_RELA)) {
    const d = sec.data();
    const view = new DataView(d.buffer, d.byteOffset, d.byteLength);
    for (let at = 0; at + RELA_SIZE <= d.length; at += RELA_SIZE) {
      const offset = view.getBigUint64(at, true);
      const type = Number(view.getBigUint64(at + 8, true) & 0xffffffffn);
      const addend = view.getBigInt64(at + 16, true);
      if (type !== R_X86_64_RELATIVE)
        throw new ExecError(
          'ENOEXEC',
          elf.fileName,
          `relocation type ${type} at 0x${offset.toString(16)} in ${sec.name}: a static PIE has R_X86_64_RELATIVE only`,
        );
      if (offset + 8n > span) throw new ExecError('ENOEXEC', elf.fileName, `relocation at 0x${offset.toString(16)} is outside the program`);
      out.push({ offset, addend });
    }
  }
  return out;
}
