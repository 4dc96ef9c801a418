/**
 * Waiting out a state the IdP leaves on its own within seconds — Entra's replication: a new object answers as if it
 * did not exist until it has replicated. Bounded, and only for the statuses the driver names.
 */
import { systemClock, upstreamStatusOf, type Clock } from '../idp/call.js';

/**
 * Runs `attempt` again while it fails with a status `isPassing` names (delays doubling from 100 ms to 2 s), until the
 * next delay would pass `waitMs` from the start; then, or on any other failure, the failure is thrown. The waits run
 * on `clock` (the call policy's), so a test on a virtual clock waits out no real time.
 */
export async function retryWhilePassing<T>(attempt: () => Promise<T>, isPassing: (status: number | undefined) => boolean, waitMs: number, clock: Clock = systemClock): Promise<T> {
  const deadline = clock.now() + waitMs;
  for (let delay = 100; ; delay = Math.min(delay * 2, 2_000)) {
    try {
      return await attempt();
    } catch (error) {
      if (!isPassing(upstreamStatusOf(error)) || clock.now() + delay > deadline) throw error;
      await clock.sleep(delay);
    }
  }
}
