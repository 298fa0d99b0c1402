// JSON schemas of every request body and path parameter; fastify validates with them (ajv, no coercion, no
// extra fields) and openapi.ts publishes them. Patterns mirror auth/provisioning.ts's rules.

export type JsonSchema = Record<string, unknown>;

const EXTENSION = '^[A-Za-z0-9_.+]{1,64}$';
const TENANT = '^[a-z0-9][a-z0-9-]{0,62}$';
const EMAIL = '^[^\\s@,;<>"]+@[^\\s@,;<>"]+\\.[^\\s@,;<>"]+$';

const str = (max: number, min = 1): JsonSchema => ({ type: 'string', minLength: min, maxLength: max });
const password = str(1024);
const totpCode = { type: 'string', pattern: '^[0-9]{6}$', description: 'the 6-digit code of the authenticator app' };
const email = { type: 'string', maxLength: 254, pattern: EMAIL };
const role = { type: 'string', enum: ['user', 'tenant-admin', 'operator'] };
const delivery = {
  type: 'string',
  enum: ['response', 'token'],
  description: 'response (default): the new VoIP password and its QR code in this response; token: a one-time provisioning token instead',
};

const obj = (properties: Record<string, JsonSchema>, required: string[] = []): JsonSchema => ({
  type: 'object',
  properties,
  required,
  additionalProperties: false,
});

export const bodies = {
  login: obj({ username: { ...str(320), description: 'extension-tenant (e.g. 201-wickedsprockets) or the extension\'s email' }, password }, ['username', 'password']),
  totpCode: obj({ code: totpCode }, ['code']),
  changePassword: obj({ currentPassword: password, newPassword: password }, ['currentPassword', 'newPassword']),
  forgotPassword: obj({ username: str(320) }, ['username']),
  resetPassword: obj({ token: str(200), newPassword: password }, ['token', 'newPassword']),
  disableTotp: obj({ password, code: totpCode }, ['password', 'code']),
  sipPassword: obj({
    graceSeconds: { type: 'integer', minimum: 0, maximum: 604_800, description: 'the old VoIP password keeps working this long (default 0)' },
    dropBindings: { type: 'boolean', description: 'remove the current registrations at once (default false)' },
  }),
  adminSipPassword: obj({
    graceSeconds: { type: 'integer', minimum: 0, maximum: 604_800 },
    dropBindings: { type: 'boolean' },
    delivery,
  }),
  redeem: obj({ token: str(200) }, ['token']),
  createTenant: obj({ code: { type: 'string', pattern: TENANT }, domain: str(253) }, ['code', 'domain']),
  createExtension: obj(
    {
      ext: { type: 'string', pattern: EXTENSION },
      email,
      loginPassword: password,
      role,
      delivery,
    },
    ['ext'],
  ),
  patchExtension: { ...obj({ email: { anyOf: [email, { type: 'null' }] }, role }), minProperties: 1 },
  adminLoginPassword: obj({ password }),
  empty: obj({}),
} satisfies Record<string, JsonSchema>;

export const params = {
  tenant: obj({ tenant: { type: 'string', pattern: TENANT } }, ['tenant']),
  extension: obj({ tenant: { type: 'string', pattern: TENANT }, ext: { type: 'string', pattern: EXTENSION } }, ['tenant', 'ext']),
} satisfies Record<string, JsonSchema>;
