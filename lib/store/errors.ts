import { byName } from '../domain/errors';

/** Someone else wrote the request since it was read: re-read and decide again. Normal traffic. */
export class ConflictError extends Error {
  override readonly name = 'ConflictError';
  static override [Symbol.hasInstance](value: unknown): boolean {
    return byName(value, 'ConflictError');
  }
  constructor(readonly id: string) {
    super(`request ${id} was changed by someone else since it was read; read it again`);
  }
}

export class RequestNotFoundError extends Error {
  override readonly name = 'RequestNotFoundError';
  static override [Symbol.hasInstance](value: unknown): boolean {
    return byName(value, 'RequestNotFoundError');
  }
  constructor(readonly id: string) {
    super(`no key request with id ${id}`);
  }
}

/**
 * The store cannot be reached or used (API server down, directory unreadable, RBAC refusal).
 * The message says what to check; it never carries a credential.
 */
export class StoreUnavailableError extends Error {
  override readonly name = 'StoreUnavailableError';
  static override [Symbol.hasInstance](value: unknown): boolean {
    return byName(value, 'StoreUnavailableError');
  }
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** A paging cursor that is malformed or belongs to another ordering. */
export class InvalidCursorError extends Error {
  override readonly name = 'InvalidCursorError';
  static override [Symbol.hasInstance](value: unknown): boolean {
    return byName(value, 'InvalidCursorError');
  }
  constructor() {
    super('the cursor is not one this listing handed out; start again from the first page');
  }
}

/** A request Secret that cannot be read as a request: reported and skipped, never rewritten. */
export class MalformedSecretError extends Error {
  override readonly name = 'MalformedSecretError';
  static override [Symbol.hasInstance](value: unknown): boolean {
    return byName(value, 'MalformedSecretError');
  }
  /** The version found broken: the same version is reported once, a new one again. */
  resourceVersion?: string;
  /** So a Warning Event can attach to the Secret. */
  uid?: string;
  constructor(
    readonly secretName: string,
    readonly problems: string,
  ) {
    super(`Secret ${secretName} is not a valid key request: ${problems}`);
  }
}
