/**
 * Client metadata on the wire (RFC 7591 snake_case, in the API7 and Konnect shapes) ⇄ `ClientMetadata` in code, with
 * the checks a JSON schema cannot express: redirect URI rules (RFC 8252 for native apps), defaults, and the Konnect
 * grant-type mapping. The shape itself was already checked against spec/openapi.yaml.
 */
import type {
  ClientMetadata,
  RegisteredClient,
  RegisteredClientWithSecret,
  RegistrationContext,
  RotatedSecret,
} from './driver/contract.js';
import { InvalidClientMetadataError, InvalidRedirectUriError, InvalidRequestError } from './errors.js';
import { withoutUndefined } from './records.js';

/** The API7 request body after schema validation (spec: Api7ClientMetadata). */
export interface Api7ClientMetadataBody {
  client_name?: string;
  redirect_uris?: string[];
  grant_types?: string[];
  response_types?: string[];
  token_endpoint_auth_method?: string;
  scope?: string;
  scopes?: string[];
  client_uri?: string;
  logo_uri?: string;
  contacts?: string[];
  jwks_uri?: string;
  post_logout_redirect_uris?: string[];
  application_type?: 'web' | 'native';
}

/** The Konnect registration body after schema validation (spec: KonnectClientRequest). */
export interface KonnectClientBody {
  redirect_uris?: string[];
  client_name?: string;
  grant_types?: string[];
  scopes?: string[];
  scope?: string;
  token_endpoint_auth_method?: string;
  application_description?: string;
  portal_id?: string;
  organization_id?: string;
  developer_id?: string;
}

export const defaultGrantTypes = ['client_credentials'];
export const defaultTokenEndpointAuthMethod = 'client_secret_basic';

const forbiddenSchemes = new Set(['javascript:', 'data:', 'file:', 'vbscript:', 'blob:']);
const loopbackHosts = new Set(['localhost', '127.0.0.1', '[::1]']);

/**
 * Absolute, no fragment; https, or http on a loopback host; a private-use scheme (reverse domain name, RFC 8252)
 * only for native apps; never a script or local-content scheme; never a `*`, which Keycloak reads as a wildcard
 * (also percent-encoded, since an IdP may decode it).
 */
export function checkRedirectUri(
  uri: string,
  applicationType: 'web' | 'native' | undefined,
  member = 'redirect_uris',
): void {
  if (/\*|%2a/i.test(uri)) throw new InvalidRedirectUriError(`Every ${member} entry must be without a wildcard (*).`);
  // Printable ASCII only: no NUL or control character, no fullwidth dot or look-alike letter an IdP may fold.
  if (/[^\x20-\x7e]/.test(uri))
    throw new InvalidRedirectUriError(`Every ${member} entry must be printable ASCII (percent-encode anything else).`);
  // WHATWG URL reads `\` as `/` in http(s), other parsers do not: `https://a.example\@evil.example/` is two hosts.
  if (uri.includes('\\')) throw new InvalidRedirectUriError(`Every ${member} entry must be without a backslash.`);
  if (uri.includes('#')) throw new InvalidRedirectUriError(`Every ${member} entry must be without a fragment.`);
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    throw new InvalidRedirectUriError(`Every ${member} entry must be an absolute URI.`);
  }
  if (/\s/.test(uri))
    throw new InvalidRedirectUriError(`Every ${member} entry must be an absolute URI without spaces.`);
  if (forbiddenSchemes.has(url.protocol))
    throw new InvalidRedirectUriError(`A ${member} entry uses a scheme that is never allowed.`);
  if (url.username !== '' || url.password !== '')
    throw new InvalidRedirectUriError(`Every ${member} entry must be without user information (user@host).`);
  // What is stored is what every parser reads alike: `http://127.1/`, `http://2130706433/`, an upper-case or IDN
  // host, dot segments — anything the URL standard rewrites — is refused rather than stored as sent.
  if (url.href !== uri && url.href !== `${uri}/`) {
    throw new InvalidRedirectUriError(
      `Every ${member} entry must be written in canonical form (lower-case scheme and host, dotted-quad IPv4, no dot segments).`,
    );
  }
  if (url.protocol === 'https:') {
    if (url.hostname === '') throw new InvalidRedirectUriError(`Every https ${member} entry must name a host.`);
    return;
  }
  if (url.protocol === 'http:') {
    if (!loopbackHosts.has(url.hostname) && !/^127(\.\d{1,3}){3}$/.test(url.hostname)) {
      throw new InvalidRedirectUriError(`A ${member} entry may use http only on a loopback host; use https.`);
    }
    return;
  }
  if (applicationType !== 'native') {
    throw new InvalidRedirectUriError(`A ${member} entry with a private-use scheme requires application_type native.`);
  }
  if (!/^[a-z][a-z0-9+-]*(\.[a-z0-9+-]+)+:$/.test(url.protocol)) {
    throw new InvalidRedirectUriError(
      `A private-use ${member} scheme must be a reverse domain name such as com.example.app.`,
    );
  }
}

/**
 * Rules across members, the same in every dialect: a `client_credentials` client authenticates itself — with
 * `token_endpoint_auth_method: none`, anyone who knows its client id could obtain its tokens.
 */
export function checkClientConsistency(metadata: ClientMetadata): ClientMetadata {
  if (metadata.grantTypes.includes('client_credentials') && metadata.tokenEndpointAuthMethod === 'none') {
    throw new InvalidClientMetadataError(
      'A client_credentials client must authenticate: token_endpoint_auth_method none is not allowed with it.',
    );
  }
  return metadata;
}

/** A `none` client has no secret: whatever the IdP holds for it is never handed out ("" where the member is required). */
function secretOnWire(client: RegisteredClientWithSecret): string {
  return client.metadata.tokenEndpointAuthMethod === 'none' ? '' : client.clientSecret;
}

function defaultResponseTypes(grantTypes: string[]): string[] {
  return grantTypes.includes('authorization_code') || grantTypes.includes('implicit') ? ['code'] : [];
}

function scopeFrom(scope: string | undefined, scopes: string[] | undefined): string | undefined {
  if (scope !== undefined) return scope === '' ? undefined : scope;
  if (scopes !== undefined && scopes.length > 0) return [...new Set(scopes)].join(' ');
  return undefined;
}

function unique(values: string[]): string[] {
  return [...new Set(values)];
}

export function api7MetadataFromWire(body: Api7ClientMetadataBody): ClientMetadata {
  if (body.scope !== undefined && body.scopes !== undefined)
    throw new InvalidRequestError('Send either scope or scopes, not both.');
  const applicationType = body.application_type;
  const redirectUris = body.redirect_uris ?? [];
  for (const uri of redirectUris) checkRedirectUri(uri, applicationType);
  for (const uri of body.post_logout_redirect_uris ?? [])
    checkRedirectUri(uri, applicationType, 'post_logout_redirect_uris');
  const grantTypes = unique(body.grant_types && body.grant_types.length > 0 ? body.grant_types : defaultGrantTypes);
  return checkClientConsistency(
    withoutUndefined({
      clientName: body.client_name === '' ? undefined : body.client_name,
      redirectUris: unique(redirectUris),
      grantTypes,
      responseTypes: unique(body.response_types ?? defaultResponseTypes(grantTypes)),
      tokenEndpointAuthMethod: body.token_endpoint_auth_method ?? defaultTokenEndpointAuthMethod,
      scope: scopeFrom(body.scope, body.scopes),
      clientUri: body.client_uri,
      logoUri: body.logo_uri,
      contacts: body.contacts,
      jwksUri: body.jwks_uri,
      postLogoutRedirectUris: body.post_logout_redirect_uris,
      applicationType,
    }),
  );
}

/** Konnect sends its own auth-method names among the grant types: `bearer` is client credentials, others are ignored. */
const konnectGrantTypes: Record<string, string> = {
  bearer: 'client_credentials',
  client_credentials: 'client_credentials',
  authorization_code: 'authorization_code',
  refresh_token: 'refresh_token',
  implicit: 'implicit',
};

export function konnectMetadataFromWire(body: KonnectClientBody): ClientMetadata {
  // Konnect sends `scopes`; a `scope` string (RFC 7591's member) is taken the same way rather than dropped.
  if (body.scope !== undefined && body.scopes !== undefined)
    throw new InvalidRequestError('Send either scope or scopes, not both.');
  const redirectUris = unique(body.redirect_uris ?? []);
  for (const uri of redirectUris) checkRedirectUri(uri, undefined);
  const mapped = unique(
    (body.grant_types ?? []).flatMap((name) => (konnectGrantTypes[name] ? [konnectGrantTypes[name]] : [])),
  );
  const grantTypes = mapped.length > 0 ? mapped : defaultGrantTypes;
  return checkClientConsistency(
    withoutUndefined({
      clientName: body.client_name === '' ? undefined : body.client_name,
      redirectUris,
      grantTypes,
      responseTypes: defaultResponseTypes(grantTypes),
      tokenEndpointAuthMethod: body.token_endpoint_auth_method ?? defaultTokenEndpointAuthMethod,
      scope: scopeFrom(body.scope, body.scopes),
    }),
  );
}

export function konnectContextFromWire(body: KonnectClientBody): RegistrationContext {
  return withoutUndefined({
    portal: 'konnect' as const,
    portalId: body.portal_id,
    organizationId: body.organization_id,
    developerId: body.developer_id,
    applicationDescription: body.application_description,
  });
}

/** RFC 7591 `application_type` from what an IdP stored for it: `web` or `native`, else none. */
export function applicationTypeOf(stored: unknown): ClientMetadata['applicationType'] {
  return stored === 'web' || stored === 'native' ? stored : undefined;
}

/**
 * RFC 7591 metadata as an IdP answers it under the wire names (an RFC 7591 server, the example IdP), read leniently: a
 * member of the wrong type is left out, and the grant types default to what that IdP assumes when it names none.
 */
export function clientMetadataFromWire(
  client: Record<string, unknown>,
  defaults: { grantTypes: string[] },
): ClientMetadata {
  const list = (value: unknown) => (Array.isArray(value) ? value.map(String) : undefined);
  const text = (value: unknown) => (typeof value === 'string' ? value : undefined);
  return {
    redirectUris: list(client.redirect_uris) ?? [],
    grantTypes: list(client.grant_types) ?? defaults.grantTypes,
    responseTypes: list(client.response_types) ?? [],
    tokenEndpointAuthMethod: text(client.token_endpoint_auth_method) ?? defaultTokenEndpointAuthMethod,
    ...withoutUndefined({
      clientName: text(client.client_name),
      scope: text(client.scope),
      clientUri: text(client.client_uri),
      logoUri: text(client.logo_uri),
      contacts: list(client.contacts),
      jwksUri: text(client.jwks_uri),
      postLogoutRedirectUris: list(client.post_logout_redirect_uris),
      applicationType: applicationTypeOf(client.application_type),
    }),
  };
}

/** RFC 7591 metadata under its wire names, members that are not set left out. */
export function clientMetadataToWire(metadata: ClientMetadata): Record<string, unknown> {
  return withoutUndefined({
    client_name: metadata.clientName,
    redirect_uris: metadata.redirectUris,
    grant_types: metadata.grantTypes,
    response_types: metadata.responseTypes,
    token_endpoint_auth_method: metadata.tokenEndpointAuthMethod,
    scope: metadata.scope,
    client_uri: metadata.clientUri,
    logo_uri: metadata.logoUri,
    contacts: metadata.contacts,
    jwks_uri: metadata.jwksUri,
    post_logout_redirect_uris: metadata.postLogoutRedirectUris,
    application_type: metadata.applicationType,
  });
}

export function api7ClientToWire(client: RegisteredClient | RegisteredClientWithSecret): Record<string, unknown> {
  return {
    ...withoutUndefined({
      client_id: client.clientId,
      client_secret: 'clientSecret' in client ? secretOnWire(client) : undefined,
      client_id_issued_at: client.clientIdIssuedAt,
      client_secret_expires_at: client.clientSecretExpiresAt,
    }),
    ...clientMetadataToWire(client.metadata),
  };
}

export function konnectClientToWire(client: RegisteredClientWithSecret): Record<string, unknown> {
  return {
    client_id: client.clientId,
    client_secret: secretOnWire(client),
    client_id_issued_at: client.clientIdIssuedAt,
    client_secret_expires_at: client.clientSecretExpiresAt,
  };
}

export function rotatedSecretToWire(rotated: RotatedSecret): Record<string, unknown> {
  return {
    client_id: rotated.clientId,
    client_secret: rotated.clientSecret,
    client_secret_expires_at: rotated.clientSecretExpiresAt,
  };
}
