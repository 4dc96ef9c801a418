/**
 * The defaults of the optional driver methods, in one place: a driver module leaves out what its IdP has no use for,
 * and no driver carries an empty stub. The app applies it to whatever driver it is given.
 *
 *   return defineDriver({ name: 'example', capabilities, registerClient, getClient, ... });
 */
import type { DcrDriver, DriverImplementation } from './contract.js';

/**
 * The complete driver. Without `apiAccessGrants` there is nothing to grant at the IdP, so the Konnect registration
 * events only pass the ownership gate (`getClient`): an unknown or foreign client is `404 client_not_found` there too.
 */
export function defineDriver(driver: DriverImplementation): DcrDriver {
  const ownershipGate = async (clientId: string): Promise<void> => {
    await driver.getClient(clientId);
  };
  const grants = driver.capabilities.apiAccessGrants;
  const { grantApiAccess, revokeApiAccess, retireExpiredSecrets, close, listOpenRegistrations, fetchDiscoveryDocument } = driver;
  return {
    name: driver.name,
    capabilities: driver.capabilities,
    ...(driver.publicRoutes ? { publicRoutes: driver.publicRoutes } : {}),
    registerClient: (metadata, context) => driver.registerClient(metadata, context),
    getClient: (clientId) => driver.getClient(clientId),
    updateClient: (clientId, metadata, changes) => driver.updateClient(clientId, metadata, changes),
    deleteClient: (clientId) => driver.deleteClient(clientId),
    rotateSecret: (clientId) => driver.rotateSecret(clientId),
    checkReadiness: () => driver.checkReadiness(),
    ...(listOpenRegistrations ? { listOpenRegistrations: (limit: number) => listOpenRegistrations.call(driver, limit) } : {}),
    ...(fetchDiscoveryDocument ? { fetchDiscoveryDocument: () => fetchDiscoveryDocument.call(driver) } : {}),
    retireExpiredSecrets: retireExpiredSecrets ? (now, options) => retireExpiredSecrets.call(driver, now, options) : async () => 0,
    grantApiAccess: grants && grantApiAccess ? (clientId, access) => grantApiAccess.call(driver, clientId, access) : ownershipGate,
    revokeApiAccess: grants && revokeApiAccess ? (clientId, access) => revokeApiAccess.call(driver, clientId, access) : ownershipGate,
    close: close ? () => close.call(driver) : async () => undefined,
  };
}
