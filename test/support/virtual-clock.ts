/**
 * A clock that moves only when told: the driver's call layer (per-attempt timeouts, backoff waits, `Retry-After`) and
 * an emulator's latency faults share one, so a fault cell that "waits" 20 s of IdP latency or a 1 s `Retry-After`
 * takes no real time, and a loaded machine cannot make an attempt time out that the cell did not mean to.
 *
 *   const clock = new VirtualClock();
 *   createKeycloakDriver({ ..., idpCallPolicy: { ...policy, clock } });
 *   faultMatrix({ clock, ... });   // the emulator's latency now advances `clock`
 */
import type { Clock } from '../../src/driver/contract.js';

interface Timer {
  at: number;
  order: number;
  callback: () => void;
}

export class VirtualClock implements Clock {
  private time: number;
  private order = 0;
  private timers: Timer[] = [];

  /** Starts at the real time, so epoch values derived from it stay plausible. */
  constructor(start = Date.now()) {
    this.time = start;
  }

  readonly now = (): number => this.time;

  readonly setTimer = (callback: () => void, ms: number): (() => void) => {
    const timer: Timer = { at: this.time + Math.max(0, ms), order: this.order++, callback };
    this.timers.push(timer);
    return () => {
      this.timers = this.timers.filter((candidate) => candidate !== timer);
    };
  };

  /** The caller waits on purpose (backoff, `Retry-After`): the time passes at once, after I/O already under way lands. */
  readonly sleep = async (ms: number): Promise<void> => {
    await new Promise((resolve) => setImmediate(resolve));
    this.advance(ms);
  };

  /** Moves the time forward by `ms`, running every timer that falls due on the way, in order; returns how many ran. */
  advance(ms: number): number {
    const target = this.time + Math.max(0, ms);
    let ran = 0;
    for (;;) {
      const due = this.timers.filter((timer) => timer.at <= target).sort((a, b) => a.at - b.at || a.order - b.order)[0];
      if (!due) break;
      this.timers = this.timers.filter((timer) => timer !== due);
      this.time = due.at;
      due.callback();
      ran++;
    }
    this.time = target;
    return ran;
  }

  /** Timers not yet run (a test can check that nothing was left waiting). */
  get pendingTimers(): number {
    return this.timers.length;
  }
}
