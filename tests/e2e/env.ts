import path from 'node:path';

export interface E2eEnv {
  embeddedUrl: string;
  clusterUrl: string;
  /** A second replica of the cluster portal: same namespace, config and secrets. */
  clusterReplicaUrl: string;
  namespace: string;
  kubeconfig: string;
  kubectl: string;
  gatewayUrl: string;
  /** The SMTP server writes each message it receives here as JSON. */
  mailDir: string;
  outboxDir: string;
  /** The embedded portal's request folder (its local store). */
  embeddedRequestsDir: string;
  /** The Slack double, with its test controls under /_test/ (trial/slack-control.ts). */
  slackUrl: string;
}

export const E2E_ENV_FILE = path.resolve(import.meta.dirname, '../../test-results/e2e/env.json');
export const WEBHOOK_SECRET = 'whsec-e2e-0123456789abcdef-0123456789abcdef';

/** Who can sign in at the test identity provider (login name -> ID token claims). */
export const OIDC_ACCOUNTS = {
  'sso-user': { email: 'Sso.User@Example.com', email_verified: true, name: 'Sso User', groups: ['staff'] },
  'sso-lead': { email: 'lead@example.com', email_verified: true, name: 'Team Lead', groups: ['staff', 'keyportal-approvers'] },
  'sso-unverified': { email: 'unverified@example.com', email_verified: false, groups: [] },
  // Reports to boss@example.com: the Frontier tier asks the manager first.
  'sso-report': { email: 'report@example.com', email_verified: true, name: 'Rita Report', groups: ['staff'], manager: 'boss@example.com' },
};

export const SLACK_SIGNING_SECRET = 'slack-signing-secret-e2e-0123456789abcdef';
/** The Slack workspace: the approver, and requesters the Slack test makes. */
export const SLACK_USERS = [
  { id: 'UAPPROVER', email: 'approver@example.com', isEmailConfirmed: true },
  { id: 'USLACKREQ', email: 'slack-requester@example.com', isEmailConfirmed: true },
];
