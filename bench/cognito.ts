/**
 * Cognito: the bridge with the Cognito driver (SigV4-signed AWS JSON calls through the AWS SDK), beside the same calls
 * made straight to the Cognito emulator with the AWS SDK.
 */
import {
  AddUserPoolClientSecretCommand,
  CognitoIdentityProviderClient,
  CreateUserPoolClientCommand,
  DeleteUserPoolClientCommand,
  DeleteUserPoolClientSecretCommand,
  DescribeUserPoolClientCommand,
  ListResourceServersCommand,
  ListUserPoolClientSecretsCommand,
  UpdateUserPoolClientCommand,
} from '@aws-sdk/client-cognito-identity-provider';
import { benchDriver, type DirectIdp } from './suite.js';
import type { BenchOptions, EmulatorProcess } from './support.js';

export const run = (options: BenchOptions) =>
  benchDriver(
    {
      driver: 'cognito',
      title: 'cognito (AWS SDK, SigV4; emulator over TLS on 127.0.0.1, own process)',
      emulator: 'cognito',
      direct: directCognito,
      notes: [
        'Cognito calls per operation (both paths): register 2 (resource servers for the custom scope, create), get 1 (describe), update 2 (describe, replace), rotate 4 (describe, list secrets, add, delete), delete 2 (describe, delete)',
      ],
    },
    options,
  );

async function directCognito(emulator: EmulatorProcess): Promise<DirectIdp> {
  const env = emulator.direct;
  const UserPoolId = env.COGNITO_USER_POOL_ID!;
  const cognito = new CognitoIdentityProviderClient({
    region: env.AWS_REGION!,
    endpoint: env.AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER!,
    credentials: { accessKeyId: env.AWS_ACCESS_KEY_ID!, secretAccessKey: env.AWS_SECRET_ACCESS_KEY! },
    maxAttempts: 1,
  });
  const describe = async (ClientId: string) =>
    (await cognito.send(new DescribeUserPoolClientCommand({ UserPoolId, ClientId }))).UserPoolClient!;
  const oauth = {
    AllowedOAuthFlows: ['client_credentials' as const],
    AllowedOAuthScopes: ['dcr-api/read'],
    AllowedOAuthFlowsUserPoolClient: true,
  };
  return {
    async register() {
      await cognito.send(new ListResourceServersCommand({ UserPoolId, MaxResults: 50 }));
      const created = await cognito.send(
        new CreateUserPoolClientCommand({ UserPoolId, ClientName: 'bench client', GenerateSecret: true, ...oauth }),
      );
      return created.UserPoolClient!.ClientId!;
    },
    get: describe,
    async update(ClientId) {
      const current = await describe(ClientId);
      await cognito.send(
        new UpdateUserPoolClientCommand({
          UserPoolId,
          ClientId,
          ClientName: 'bench client renamed',
          TokenValidityUnits: current.TokenValidityUnits,
          ...oauth,
        }),
      );
    },
    async rotate(ClientId) {
      await describe(ClientId);
      const listed = await cognito.send(new ListUserPoolClientSecretsCommand({ UserPoolId, ClientId }));
      await cognito.send(new AddUserPoolClientSecretCommand({ UserPoolId, ClientId }));
      const old = listed.ClientSecrets![0]!.ClientSecretId!;
      await cognito.send(new DeleteUserPoolClientSecretCommand({ UserPoolId, ClientId, ClientSecretId: old }));
    },
    async remove(ClientId) {
      await describe(ClientId);
      await cognito.send(new DeleteUserPoolClientCommand({ UserPoolId, ClientId }));
    },
  };
}
