/**
 * The values `DCR_DRIVER` accepts. The registry that maps each name to its module must cover exactly these (the
 * compiler checks it), so `loadConfig` can refuse a bad driver first without loading any driver.
 */
export const driverNames = ['local', 'keycloak', 'okta', 'auth0', 'entra', 'example'] as const;

export type DriverName = (typeof driverNames)[number];

export const driverAliases: Readonly<Record<string, DriverName>> = { azure: 'entra' };
