// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * gdb on the vCPUs: a GDB remote stub over a lab (stub.ts), with breakpoints and watchpoints in
 * the engines, `monitor` commands for the lab's state, and reverse execution by replay.
 */
export {
  CHECKPOINT_INSNS,
  comparePositions,
  GdbRewind,
  GdbStub,
  serveGdb,
  type GdbLab,
  type GdbSession,
  type Position,
  type Stop,
  type StopPoint,
} from './stub.ts';
export { GdbSocketError, parseListenAddress, type ListenAddress } from './socket.ts';
export { type MonitorCommand, runMonitor } from './monitor.ts';
export { targetXml, REGISTERS } from './registers.ts';
