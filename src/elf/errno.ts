// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The errno vocabulary: Linux's numbers, their names and the strerror() texts glibc gives them
 * (what kmod, echo and cat print when a write or an insmod fails). One table, so a name, its
 * number and its text can never disagree between the loader, ftrace, the livepatch core and
 * the CLI.
 *
 * It lives in src/elf/ because that is the lowest folder whose code needs it (the module
 * loader's errors carry an errno), and every folder that needs it -- kernel, ftrace,
 * livepatch, cli -- already imports from src/elf/; src/emu/ has its own error codes
 * (Unicorn's) and needs none of these.
 */

/** Name -> Linux's number and glibc's strerror() text. EAGAIN comes before its alias EWOULDBLOCK. */
const TABLE = {
  EPERM: [1, 'Operation not permitted'],
  ENOENT: [2, 'No such file or directory'],
  ESRCH: [3, 'No such process'],
  EINTR: [4, 'Interrupted system call'],
  EIO: [5, 'Input/output error'],
  ENOEXEC: [8, 'Exec format error'],
  EAGAIN: [11, 'Resource temporarily unavailable'],
  EWOULDBLOCK: [11, 'Resource temporarily unavailable'],
  ENOMEM: [12, 'Cannot allocate memory'],
  EACCES: [13, 'Permission denied'],
  EFAULT: [14, 'Bad address'],
  EBUSY: [16, 'Device or resource busy'],
  EEXIST: [17, 'File exists'],
  ENODEV: [19, 'No such device'],
  ENOTDIR: [20, 'Not a directory'],
  EISDIR: [21, 'Is a directory'],
  EINVAL: [22, 'Invalid argument'],
  ENOSPC: [28, 'No space left on device'],
  EPIPE: [32, 'Broken pipe'],
  ERANGE: [34, 'Numerical result out of range'],
  ENOSYS: [38, 'Function not implemented'],
  EADDRINUSE: [98, 'Address already in use'],
  ETIMEDOUT: [110, 'Connection timed out'],
} as const;

export type Errno = keyof typeof TABLE;

/** The positive numbers by name, for the places that spell an errno as a string ('EBUSY'). */
export const ERRNO = Object.fromEntries(Object.entries(TABLE).map(([name, [n]]) => [name, n])) as {
  readonly [K in Errno]: (typeof TABLE)[K][0];
};

// The positive numbers as constants, the way kernel code writes them (return -EINVAL).
export const EPERM = ERRNO.EPERM;
export const ENOENT = ERRNO.ENOENT;
export const ENOEXEC = ERRNO.ENOEXEC;
export const ENOMEM = ERRNO.ENOMEM;
export const EFAULT = ERRNO.EFAULT;
export const EBUSY = ERRNO.EBUSY;
export const EEXIST = ERRNO.EEXIST;
export const ENODEV = ERRNO.ENODEV;
export const EINVAL = ERRNO.EINVAL;
export const EADDRINUSE = ERRNO.EADDRINUSE;

/** True for a name the table knows ('EIO'), so a host error code can be passed on as it is. */
export function isErrno(name: string): name is Errno {
  return Object.hasOwn(TABLE, name);
}

/** "EINVAL" for 22 or -22; "E<n>" for numbers the table does not name. */
export function errnoName(code: number): string {
  const n = Math.abs(code);
  for (const [name, [value]] of Object.entries(TABLE)) if (value === n) return name;
  return `E${n}`;
}

/** The number of a name, or of "E<n>"; 0 for anything else. Positive, as ERRNO. */
export function errnoValue(name: string): number {
  return isErrno(name) ? ERRNO[name] : Number(name.slice(1)) || 0;
}

/** strerror(): "No such device" for -19, as modprobe prints it; glibc's text for unknown ones. */
export function strerror(code: number): string {
  const name = errnoName(code);
  return isErrno(name) ? TABLE[name][1] : `Unknown error ${Math.abs(code)}`;
}
