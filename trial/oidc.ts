import { type RequestListener, type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import Provider from 'oidc-provider';

export interface TestAccount {
  email: string;
  email_verified: boolean;
  name?: string;
  groups?: string[];
  /** The person's manager's email (the claim auth.oidc.managerClaim names, here `manager`). */
  manager?: string;
}

/**
 * A real OpenID Connect provider (npm oidc-provider), with its development login form: any
 * password, the login name picks one of `accounts` or is an email address signed in as itself.
 * Scope claims go into the ID token, as most identity providers configure them. The tests' on
 * 127.0.0.1; a trial's beside the portal in its pod (`node trial.mjs oidc`).
 */
export class TestOidc {
  private server: Server | undefined;
  issuer = '';

  constructor(
    private readonly client: { clientId: string; clientSecret: string; redirectUri: string | string[] },
    private readonly accounts: Record<string, TestAccount>,
    /** Where it listens (and so its issuer URL): loopback unless a pod must reach it too. */
    private readonly host = '127.0.0.1',
    /** A fixed port (a trial's issuer URL names it); 0 picks a free one. */
    private readonly port = 0,
  ) {}

  async start(): Promise<void> {
    // The issuer URL holds the port, so the provider is made after the server listens.
    const route: { handler?: RequestListener } = {};
    const server = createServer((req, res) => route.handler?.(req, res));
    await new Promise<void>((resolve) => server.listen(this.port, this.host, resolve));
    this.server = server;
    this.issuer = `http://${this.host}:${(server.address() as AddressInfo).port}`;
    const provider = new Provider(this.issuer, {
      clients: [
        {
          client_id: this.client.clientId,
          client_secret: this.client.clientSecret,
          redirect_uris: [this.client.redirectUri].flat(),
          response_types: ['code'],
          grant_types: ['authorization_code'],
        },
      ],
      claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name', 'groups', 'manager'] },
      conformIdTokenClaims: false,
      cookies: { keys: ['keyportal-test-oidc-cookie-key'] },
      features: { devInteractions: { enabled: true } },
      findAccount: (_ctx, id) => {
        // A login that is an email address signs in as that address, verified (suites with many
        // employees); named accounts say what their claims are.
        const account = this.accounts[id] ?? (/^[^@\s]+@[^@\s]+$/.test(id) ? { email: id, email_verified: true } : undefined);
        if (!account) return undefined;
        return { accountId: id, claims: () => ({ sub: id, ...account }) };
      },
    });
    route.handler = provider.callback();
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
