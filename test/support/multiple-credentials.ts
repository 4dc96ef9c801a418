/**
 * Multiple credentials (`listSecrets`, `addSecret`, `revokeSecret`) of one vendor driver against its emulator: what
 * each call does at the IdP (a listed secret works at the emulator's token endpoint, a revoked one is refused at
 * once), the limit and last-secret refusals that change nothing, a foreign client left alone, and the lost answers of
 * an add and of a revoke. Each vendor's test file calls these with its harness; the shared conformance suite proves
 * the contract for every driver, these prove each vendor's translation.
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import type { DcrDriver, RegisteredClientWithSecret } from '../../src/driver/contract.js';
import { ClientNotFoundError, ConflictError } from '../../src/errors.js';
import { rejectsWith, serviceMetadata } from '../conformance/driver-suite.js';
import type { Emulator } from '../emulators/framework.js';

export interface CredentialsIdp {
  secretWorks(clientId: string, secret: string): boolean | Promise<boolean>;
  workingSecretCount(clientId: string): number;
  clientState(): unknown;
  seedForeignClient(): { clientId: string; clientSecret: string } | Promise<{ clientId: string; clientSecret: string }>;
}

export interface CredentialsTarget {
  driver(): DcrDriver;
  idp(): CredentialsIdp;
  /** How many secrets a client may hold at this IdP. */
  limit: number;
  /** A word of the `409` that names the limit (e.g. `at most 2`). */
  limitWords: RegExp;
  /** Brings a client to the limit without the driver, when the limit is too large to reach by `addSecret`. */
  fillToLimit?(clientId: string): Promise<void>;
}

const methods = (driver: DcrDriver) => ({
  list: driver.listSecrets!.bind(driver),
  add: driver.addSecret!.bind(driver),
  revoke: driver.revokeSecret!.bind(driver),
});

const register = (driver: DcrDriver): Promise<RegisteredClientWithSecret> =>
  driver.registerClient(serviceMetadata({ clientName: 'multiple credentials' }), { portal: 'konnect' });

/** A rejection of `promise` with a `ConflictError` whose description matches `words`. */
async function conflicts(promise: Promise<unknown>, words: RegExp): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof ConflictError, `expected ConflictError, got ${String(error)}`);
    assert.match(error.message, words);
    return true;
  });
}

export function multipleCredentialsTests(target: CredentialsTarget): void {
  it('lists the secret a registration issued: its id and status, never its value', async () => {
    const driver = target.driver();
    const client = await register(driver);
    const listed = await methods(driver).list(client.clientId);
    assert.equal(listed.length, 1);
    assert.equal(listed[0]!.clientId, client.clientId);
    assert.equal(listed[0]!.status, 'ACTIVE');
    assert.ok(listed[0]!.secretId.length > 0);
    assert.ok(!JSON.stringify(listed).includes(client.clientSecret), 'the value is never listed');
    assert.deepEqual(await methods(driver).list(client.clientId), listed, 'the id is stable');
    await driver.deleteClient(client.clientId);
  });

  if (target.limit >= 2)
    it('an added secret works beside the first; revoking the first refuses it at once and the second works', async () => {
      const driver = target.driver();
      const idp = target.idp();
      const client = await register(driver);
      const [first] = await methods(driver).list(client.clientId);
      const added = await methods(driver).add(client.clientId);
      assert.equal(added.clientId, client.clientId);
      assert.equal(added.status, 'ACTIVE');
      assert.equal(await idp.secretWorks(client.clientId, client.clientSecret), true, 'the first still works');
      assert.equal(await idp.secretWorks(client.clientId, added.clientSecret), true, 'the added one works');
      const listed = await methods(driver).list(client.clientId);
      assert.deepEqual(listed.map((secret) => secret.secretId).sort(), [first!.secretId, added.secretId].sort());
      assert.ok(!JSON.stringify(listed).includes(added.clientSecret), 'the value is never listed');
      await methods(driver).revoke(client.clientId, first!.secretId);
      assert.equal(await idp.secretWorks(client.clientId, client.clientSecret), false, 'the revoked one is refused');
      assert.equal(await idp.secretWorks(client.clientId, added.clientSecret), true, 'the other one still works');
      assert.deepEqual(
        (await methods(driver).list(client.clientId)).map((secret) => secret.secretId),
        [added.secretId],
      );
      await methods(driver).revoke(client.clientId, first!.secretId);
      await driver.deleteClient(client.clientId);
    });

  it("the IdP's limit is a 409 naming it, and creates nothing", async () => {
    const driver = target.driver();
    const idp = target.idp();
    const client = await register(driver);
    if (target.fillToLimit) await target.fillToLimit(client.clientId);
    else for (let held = 1; held < target.limit; held++) await methods(driver).add(client.clientId);
    const before = idp.clientState();
    const working = idp.workingSecretCount(client.clientId);
    await conflicts(methods(driver).add(client.clientId), target.limitWords);
    assert.deepEqual(idp.clientState(), before, 'nothing changed at the IdP');
    assert.equal(idp.workingSecretCount(client.clientId), working);
    await driver.deleteClient(client.clientId);
  });

  it('the last working secret is a 409, and is not revoked', async () => {
    const driver = target.driver();
    const idp = target.idp();
    const client = await register(driver);
    const [only] = await methods(driver).list(client.clientId);
    const before = idp.clientState();
    await conflicts(methods(driver).revoke(client.clientId, only!.secretId), /last working secret/);
    assert.deepEqual(idp.clientState(), before, 'nothing changed at the IdP');
    assert.equal(await idp.secretWorks(client.clientId, client.clientSecret), true);
    await driver.deleteClient(client.clientId);
  });

  it('revoking an id the client does not hold (already gone) resolves and changes nothing', async () => {
    const driver = target.driver();
    const idp = target.idp();
    const client = await register(driver);
    const before = idp.clientState();
    await methods(driver).revoke(client.clientId, 'ocs0000000000000000000gone');
    await methods(driver).revoke(client.clientId, '00000000-0000-0000-0000-000000000000');
    assert.deepEqual(idp.clientState(), before);
    assert.equal(await idp.secretWorks(client.clientId, client.clientSecret), true);
    await driver.deleteClient(client.clientId);
  });

  it("a foreign client's secrets are untouchable, and an unknown client is not found", async () => {
    const driver = target.driver();
    const idp = target.idp();
    const foreign = await idp.seedForeignClient();
    const before = idp.clientState();
    await rejectsWith(methods(driver).list(foreign.clientId), ClientNotFoundError);
    await rejectsWith(methods(driver).add(foreign.clientId), ClientNotFoundError);
    await rejectsWith(methods(driver).revoke(foreign.clientId, 'any'), ClientNotFoundError);
    assert.deepEqual(idp.clientState(), before, 'nothing changed at the IdP');
    assert.equal(await idp.secretWorks(foreign.clientId, foreign.clientSecret), true);
    const client = await register(driver);
    await driver.deleteClient(client.clientId);
    await rejectsWith(methods(driver).list(client.clientId), ClientNotFoundError);
    await rejectsWith(methods(driver).add(client.clientId), ClientNotFoundError);
  });
}

export interface LostAnswerTarget {
  /** The driver under faults. */
  driver(): DcrDriver;
  /** The same driver with a roomy policy, for setting the stage and checking after. */
  calm(): DcrDriver;
  idp(): CredentialsIdp & { emulator: Emulator };
  /** The route key of the IdP call that adds a secret. */
  addRoute: string;
  /** The route key of the last IdP call of a revoke (the one that makes the secret stop working). */
  revokeRoute: string;
}

/** "Acted, answer lost" on the calls that add and revoke a secret. */
export function lostAnswerTests(target: LostAnswerTarget): void {
  it('an add whose answer is lost leaves no secret nobody holds', async () => {
    const idp = target.idp();
    const client = await register(target.calm());
    idp.emulator.injectFault({ route: target.addRoute, drop: 'after-processing' });
    const outcome = await target.driver().addSecret!(client.clientId).then(
      (added) => added,
      () => undefined,
    );
    idp.emulator.clearFaults();
    assert.equal(await idp.secretWorks(client.clientId, client.clientSecret), true, 'the first secret still works');
    if (outcome) {
      assert.equal(await idp.secretWorks(client.clientId, outcome.clientSecret), true, 'the secret handed out works');
      assert.equal(idp.workingSecretCount(client.clientId), 2);
    } else assert.equal(idp.workingSecretCount(client.clientId), 1, 'the secret made behind the lost answer is gone');
    assert.equal(
      (await target.calm().listSecrets!(client.clientId)).length,
      idp.workingSecretCount(client.clientId),
      'the list shows exactly the working secrets',
    );
    await target.calm().deleteClient(client.clientId);
  });

  it('a revoke whose answer is lost is done, and a retry resolves', async () => {
    const idp = target.idp();
    const calm = target.calm();
    const client = await register(calm);
    const added = await calm.addSecret!(client.clientId);
    const [first] = (await calm.listSecrets!(client.clientId)).filter((secret) => secret.secretId !== added.secretId);
    idp.emulator.injectFault({ route: target.revokeRoute, drop: 'after-processing' });
    await target.driver().revokeSecret!(client.clientId, first!.secretId).catch(() => undefined);
    idp.emulator.clearFaults();
    await target.driver().revokeSecret!(client.clientId, first!.secretId);
    assert.equal(await idp.secretWorks(client.clientId, client.clientSecret), false, 'the revoked secret is refused');
    assert.equal(await idp.secretWorks(client.clientId, added.clientSecret), true, 'the other one works');
    assert.deepEqual(
      (await calm.listSecrets!(client.clientId)).map((secret) => secret.secretId),
      [added.secretId],
    );
    await calm.deleteClient(client.clientId);
  });
}
