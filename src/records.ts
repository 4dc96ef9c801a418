/**
 * Plain records, as JSON and untyped SDK answers carry them: the guards a driver checks an IdP answer with (with
 * `usableAnswer`), and an object without its `undefined` members (IdP payloads, RFC 7591 metadata).
 */

export const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

export const isRecordArray = (value: unknown): value is Array<Record<string, unknown>> =>
  Array.isArray(value) && value.every(isRecord);

/** A record whose listed members are non-empty strings. */
export const hasStrings =
  <K extends string>(...keys: K[]) =>
  (value: unknown): value is Record<K, string> & Record<string, unknown> =>
    isRecord(value) && keys.every((key) => typeof value[key] === 'string' && value[key] !== '');

/** `T` without `undefined` members: a member that may be `undefined` becomes optional, the others stay as they are. */
export type WithoutUndefined<T> = { [K in keyof T as undefined extends T[K] ? never : K]: T[K] } & {
  [K in keyof T as undefined extends T[K] ? K : never]?: Exclude<T[K], undefined>;
};

/** An object without its `undefined` members. */
export function withoutUndefined<T extends object>(value: T): WithoutUndefined<T> {
  return Object.fromEntries(Object.entries(value).filter(([, entry]) => entry !== undefined)) as WithoutUndefined<T>;
}
