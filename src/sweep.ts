/**
 * The rotation-grace sweep: old secrets whose grace ended are retired by the driver, which reads their creation
 * times from the IdP — so the sweep keeps no state and several replicas may run it at once.
 */
import type { Clock, DcrDriver } from './driver/contract.js';
import type { BridgeConfig } from './config.js';
import { BridgeError } from './errors.js';
import { systemClock } from './driver/call/caller.js';
import { idpStatusOf } from './driver/call/failure.js';
import type { BridgeEvents } from './events.js';
import type { Logger } from './logging.js';
import type { PendingRegistrations } from './pending.js';

/**
 * Retires old secrets whose grace ended, every `sweepIntervalSeconds`; one run at a time (the next is timed from the
 * end of the last), at most `sweepMaxIdpCalls` IdP calls each (a sweep that reaches the bound says so, and the next
 * continues where it stopped), failures logged and retried next interval, never fatal. Does nothing without a grace or without
 * the driver capability. Returns the stopper. `clock` is the system's unless a test passes a virtual one.
 */
export function startSecretSweep(
  config: Pick<BridgeConfig, 'rotationGraceSeconds' | 'sweepIntervalSeconds'> &
    Partial<Pick<BridgeConfig, 'sweepMaxIdpCalls'>>,
  driver: DcrDriver,
  events: BridgeEvents,
  logger: Logger,
  clock: Pick<Clock, 'now' | 'setTimer'> = systemClock,
): () => void {
  if (config.rotationGraceSeconds === 0 || !driver.capabilities.rotationGrace) return () => undefined;
  let stopped = false;
  let cancel = (): void => undefined;
  const schedule = (): void => {
    cancel = clock.setTimer(sweep, config.sweepIntervalSeconds * 1000);
  };
  const sweep = (): void => {
    driver
      .retireExpiredSecrets(clock.now(), {
        ...(config.sweepMaxIdpCalls === undefined ? {} : { maxIdpCalls: config.sweepMaxIdpCalls }),
        onUnfinished: (idpCalls) =>
          logger.info('secret sweep reached its bound; the next sweep continues', {
            idpCalls,
            nextInSeconds: config.sweepIntervalSeconds,
          }),
      })
      .then((count) => {
        if (count > 0) events.emit('secrets.retired', { count });
      })
      .catch((error: unknown) => {
        const code = error instanceof BridgeError ? error.code : 'server_error';
        logger.warn('secret sweep failed', { error: code });
        events.emit('secrets.sweep_failed', { error: code, ...idpStatusOf(error) });
      })
      .finally(() => {
        if (!stopped) schedule();
      });
  };
  schedule();
  return () => {
    stopped = true;
    cancel();
  };
}

/**
 * Deletes the registrations no portal learned of (src/pending.ts): at once, then every `sweepIntervalSeconds`, the
 * clients still pending after `DCR_PENDING_TIMEOUT_SECONDS` (a crash between the IdP's create and the answer) are
 * deleted through the driver. Failures are logged and retried next interval. Returns the stopper.
 */
export function startPendingSweep(
  config: Pick<BridgeConfig, 'sweepIntervalSeconds'>,
  pending: Pick<PendingRegistrations, 'sweep'>,
  logger: Logger,
  clock: Pick<Clock, 'setTimer'> = systemClock,
): () => void {
  let stopped = false;
  let cancel = (): void => undefined;
  const sweep = (): void => {
    pending
      .sweep()
      .catch((error: unknown) =>
        logger.warn('pending-registration sweep failed', {
          error: error instanceof BridgeError ? error.code : 'server_error',
        }),
      )
      .finally(() => {
        if (!stopped) cancel = clock.setTimer(sweep, config.sweepIntervalSeconds * 1000);
      });
  };
  sweep();
  return () => {
    stopped = true;
    cancel();
  };
}
