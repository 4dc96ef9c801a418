/**
 * Waiting out a state the IdP leaves on its own within seconds — Entra's replication: a new object answers as if it
 * did not exist until it has replicated. Bounded, and only for the statuses the driver names.
 */
import { upstreamStatusOf } from '../idp/call.js';

/**
 * Runs `attempt` again while it fails with a status `isPassing` names (delays doubling from 100 ms to 2 s), until the
 * next delay would pass `waitMs` from the start; then, or on any other failure, the failure is thrown.
 */
export async function retryWhilePassing<T>(attempt: () => Promise<T>, isPassing: (status: number | undefined) => boolean, waitMs: number): Promise<T> {
  const deadline = Date.now() + waitMs;
  for (let delay = 100; ; delay = Math.min(delay * 2, 2_000)) {
    try {
      return await attempt();
    } catch (error) {
      if (!isPassing(upstreamStatusOf(error)) || Date.now() + delay > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
  }
}
