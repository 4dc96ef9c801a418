/**
 * The rotation-grace sweep: old secrets whose grace ended are retired by the driver, which reads their creation
 * times from the IdP — so the sweep keeps no state and several replicas may run it at once.
 */
import type { DcrDriver } from './driver/contract.js';
import type { BridgeConfig } from './config.js';
import { BridgeError } from './errors.js';
import type { BridgeEvents } from './events.js';
import type { Logger } from './logging.js';

/**
 * Retires old secrets whose grace ended, every `sweepIntervalSeconds`; one run at a time, failures logged and retried
 * next interval, never fatal. Does nothing without a grace or without the driver capability. Returns the stopper.
 */
export function startSecretSweep(
  config: Pick<BridgeConfig, 'rotationGraceSeconds' | 'sweepIntervalSeconds'>,
  driver: DcrDriver,
  events: BridgeEvents,
  logger: Logger,
): () => void {
  if (config.rotationGraceSeconds === 0 || !driver.capabilities.rotationGrace) return () => undefined;
  let running = false;
  const timer = setInterval(() => {
    if (running) return;
    running = true;
    driver
      .retireExpiredSecrets(Date.now())
      .then((count) => {
        if (count > 0) events.emit('secrets.retired', { count });
      })
      .catch((error: unknown) => logger.warn('secret sweep failed', { error: error instanceof BridgeError ? error.code : 'server_error' }))
      .finally(() => {
        running = false;
      });
  }, config.sweepIntervalSeconds * 1000);
  return () => clearInterval(timer);
}
