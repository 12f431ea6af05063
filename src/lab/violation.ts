// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * What goes wrong in a run, as the lab reports it, and the contract between whoever watches a
 * run (the consistency checker) and whoever drives many runs (the schedule explorer, replay).
 * The explorer only needs to know that a run went wrong, when, how, and which tasks were
 * involved; the checker only needs to be told when a run is over. Keeping the contract here
 * lets either side change without the other.
 */
import type { Lab } from './selftest.ts';

/** A task involved in a violation, as it was when the violation was seen. */
export interface ViolationTask {
  pid: number;
  comm: string;
  /** Its symbolized stack trace, innermost frame first, when one could be taken. */
  stack?: string[];
}

export interface Violation {
  /**
   * A stable name of the rule that was broken ('new-code-while-unpatched', 'mixed-states',
   * 'pending-at-rest', 'func-stack', 'unload-blocked', 'warning', 'oops', 'lockup', 'stall', ...): replay files
   * and tests compare it.
   */
  kind: string;
  /** One line for a person, naming the task, the function and the patch. */
  message: string;
  /** Emulated time at which it was seen, in ns. */
  tsNs: number;
  tasks: ViolationTask[];
}

/** A watcher attached to one lab for one run. */
export interface LabChecker {
  /** The first violation seen so far, if any; cheap, called by the driver between steps. */
  poll(): Violation | undefined;
  /**
   * The driver waited `ms` emulated ms for a transition, the bound its scenario sets, and the
   * transition is still running: a stall, reported with what blocks it.
   */
  stalled?(ms: number): Violation | undefined;
  /** The run is over (its steps done, transitions settled or given up): the final checks. */
  finish(): Violation | undefined;
  /** Removes whatever it hooked; the lab runs on unwatched. */
  detach(): void;
}

export type CheckerFactory = (lab: Lab) => LabChecker;
