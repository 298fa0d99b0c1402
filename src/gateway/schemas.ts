// JSON schemas of every request body, path parameter and response body. fastify validates requests with them (ajv, no
// coercion, no extra fields), serializes responses with them (a field not listed here is NOT sent), and
// @fastify/swagger publishes them (openapi.ts). Patterns mirror auth/provisioning.ts's rules.

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

/** A response body: an object whose listed fields are sent (fast-json-stringify drops the others); none required. */
const reply = (description: string, properties: Record<string, JsonSchema>, required: string[] = []): JsonSchema => ({
  description,
  type: 'object',
  properties,
  required,
});
const text = (description: string): JsonSchema => ({ type: 'string', description });
const time = (description?: string): JsonSchema => ({ type: 'string', format: 'date-time', ...(description ? { description } : {}) });
const nullableText = (description: string): JsonSchema => ({ type: ['string', 'null'], description });

const voipSettings = {
  type: 'object',
  description: 'what a phone needs to register through the edge (never the password)',
  properties: {
    sipUsername: str(64),
    domain: text('the tenant\'s SIP domain'),
    realm: text('the digest realm (the domain)'),
    server: text('the edge: sip.advertisedHost, else the SIP listen host'),
    transports: {
      type: 'object',
      description: 'host:port per transport (udp, tcp, tls), ws:// and wss:// URLs; a transport that is off is absent',
      properties: { udp: { type: 'string' }, tcp: { type: 'string' }, tls: { type: 'string' }, ws: { type: 'string' }, wss: { type: 'string' } },
    },
    sharedUsername: text('ext-tenant, when auth.sharedDomain is set'),
  },
  required: ['sipUsername', 'domain', 'realm', 'server', 'transports'],
} satisfies JsonSchema;

const qr = {
  qrSvg: text('the QR code as SVG text'),
  qrPngDataUrl: text('the QR code as a PNG data: URL'),
};

/** What an answer carrying a new VoIP password holds: the password and its QR codes, or a provisioning token. */
const voipDelivery = {
  settings: voipSettings,
  voipPassword: text('the new VoIP password (delivery "response"); shown this once'),
  provisioning: {
    type: 'object',
    description: 'the provisioning QR: content is one line of JSON (README "VoIP credentials and the provisioning QR")',
    properties: { content: { type: 'string' }, ...qr },
    required: ['content', 'qrSvg', 'qrPngDataUrl'],
  },
  linphone: {
    type: 'object',
    description: 'one-time Linphone remote provisioning URL (GET /provision/{file}) and its QR code',
    properties: { url: { type: 'string' }, expiresAt: time('when the URL stops working'), ...qr },
    required: ['url', 'expiresAt', 'qrSvg', 'qrPngDataUrl'],
  },
  provisioningToken: text('delivery "token": redeem once with POST /api/provisioning/redeem'),
  provisioningTokenExpiresAt: time('delivery "token": when the token stops working'),
  provisioningUrl: text('delivery "token": the portal page that redeems the token'),
} satisfies Record<string, JsonSchema>;

const tenant = {
  type: 'object',
  properties: { code: { type: 'string' }, domain: { type: 'string' }, createdAt: time() },
  required: ['code', 'domain', 'createdAt'],
} satisfies JsonSchema;

const extension = {
  type: 'object',
  description: 'an extension as admins see it (never a password)',
  properties: {
    extension: { type: 'string' },
    tenant: { type: 'string' },
    domain: { type: 'string' },
    sipUsername: { type: 'string' },
    sharedUsername: { type: 'string' },
    email: { type: 'string' },
    credentialUpdatedAt: time('when the VoIP password last changed'),
    graceUntil: time('the previous VoIP password works until then'),
    createdAt: time(),
    lockedUntil: time('SIP lockout (unlock with .../unlock)'),
    bindings: {
      type: 'array',
      description: 'unexpired registrations',
      items: {
        type: 'object',
        properties: {
          contact: { type: 'string' },
          transport: { type: 'string' },
          source: text('address:port the REGISTER came from'),
          expiresIn: { type: 'integer', description: 'seconds' },
          userAgent: { type: 'string' },
          node: text('id of the node holding its flow'),
          nodeAddress: text('that node\'s internal hop'),
        },
        required: ['contact', 'transport', 'source', 'expiresIn', 'node'],
      },
    },
    role,
    hasLoginPassword: { type: 'boolean' },
    twoFactorEnabled: { type: 'boolean' },
  },
  required: ['extension', 'tenant', 'domain', 'sipUsername', 'credentialUpdatedAt', 'createdAt', 'role', 'hasLoginPassword', 'twoFactorEnabled'],
} satisfies JsonSchema;

const mohVersion = {
  type: 'object',
  description: 'one upload of hold music and where it stands',
  properties: {
    id: { type: 'string' },
    tenant: { type: 'string' },
    class: { type: 'string', enum: ['hold', 'queue'] },
    status: { type: 'string', enum: ['pending', 'active', 'retired', 'failed'] },
    reason: text('why a failed upload was refused'),
    reasonCode: text('closed-set refusal code (too-large, unsupported-format, corrupt, empty, too-long)'),
    sourceName: text('file name as uploaded'),
    sourceBytes: { type: 'integer' },
    description: text('e.g. "MP3 44100 Hz stereo"'),
    durationMs: { type: 'number' },
    createdAt: time(),
    activatedAt: time(),
    retiredAt: time(),
    failedAt: time(),
  },
  required: ['id', 'tenant', 'class', 'status', 'sourceName', 'sourceBytes', 'createdAt'],
} satisfies JsonSchema;

/** The 2xx bodies of the routes, by what they answer. 204s have no body (`noContent`). */
export const replies = {
  noContent: (description: string): JsonSchema => ({ description, type: 'null' }),
  login: reply(
    'logged in (or, with twoFactorRequired, half-way: POST /api/login/totp next); the session cookie is set',
    { twoFactorRequired: { type: 'boolean' }, csrfToken: text('echo it in x-csrf-token on state-changing requests') },
    ['twoFactorRequired', 'csrfToken'],
  ),
  csrf: (description: string): JsonSchema => reply(description, { csrfToken: text('the new session\'s CSRF token') }, ['csrfToken']),
  me: reply(
    'the logged-in extension',
    {
      extension: { type: 'string' },
      tenant: { type: 'string' },
      username: text('extension-tenant, the login name'),
      domain: { type: 'string' },
      email: nullableText('null when none is set'),
      role,
      twoFactorEnabled: { type: 'boolean' },
      passwordPolicy: { type: 'string', enum: ['basic', 'strict'] },
      csrfToken: { type: 'string' },
      sessionExpiresAt: time(),
    },
    ['extension', 'tenant', 'username', 'email', 'role', 'twoFactorEnabled', 'passwordPolicy', 'csrfToken', 'sessionExpiresAt'],
  ),
  accepted: reply('accepted, whether or not the account exists', { status: { type: 'string' }, message: { type: 'string' } }, ['status', 'message']),
  totpSetup: reply(
    'a new TOTP secret (not active until POST /api/2fa/activate)',
    { secret: text('base32'), otpauthUri: { type: 'string' }, ...qr },
    ['secret', 'otpauthUri', 'qrSvg', 'qrPngDataUrl'],
  ),
  voipSettings: { ...voipSettings, description: 'the VoIP settings (never the password)' },
  voipPassword: (description: string): JsonSchema => reply(description, voipDelivery, ['settings']),
  webrtc: reply(
    'credentials for the portal\'s browser phone (Cache-Control: no-store)',
    {
      username: { type: 'string' },
      realm: { type: 'string' },
      aor: { type: 'string' },
      displayName: { type: 'string' },
      wsUrl: nullableText('ws:// or wss:// URL of the edge\'s SIP over WebSocket listener; null when it is off'),
      authorizationHa1: text('MD5 HA1 of the VoIP password (RFC 3261 §22.4), for SIP.js authorizationHa1'),
    },
    ['username', 'realm', 'aor', 'displayName', 'wsUrl', 'authorizationHa1'],
  ),
  tenants: reply('the tenants', { tenants: { type: 'array', items: tenant } }, ['tenants']),
  tenant: (description: string): JsonSchema => ({ ...tenant, description }),
  extensions: reply('the tenant\'s extensions', { extensions: { type: 'array', items: extension } }, ['extensions']),
  extension: (description: string): JsonSchema => ({ ...extension, description }),
  createdExtension: reply(
    'the new extension, with its VoIP password (delivery "response") or a provisioning token (delivery "token")',
    { extension, ...voipDelivery },
    ['extension', 'settings'],
  ),
  generatedPassword: reply('the generated login password (shown this once)', { password: { type: 'string' } }, ['password']),
  mohStatus: reply('recent hold-music versions, newest first', { versions: { type: 'array', items: mohVersion } }, ['versions']),
  mohUploaded: reply('the upload is the active music of its class now', { version: mohVersion, message: { type: 'string' } }, ['version', 'message']),
} satisfies Record<string, JsonSchema | ((d: string) => JsonSchema)>;

/** GET /api/moh's query and POST /api/moh's form (multipart/form-data; the file part last). */
export const moh = {
  statusQuery: {
    type: 'object',
    properties: { tenant: text('operators: the tenant to show (tenant admins always see their own)') },
  },
  uploadQuery: {
    type: 'object',
    properties: {
      tenant: text('the tenant, when the form does not name it'),
      class: { type: 'string', enum: ['hold', 'queue'], description: 'the class, when the form does not name it' },
    },
  },
  uploadForm: {
    type: 'object',
    properties: {
      tenant: text('the tenant (operators; tenant admins upload for their own); before the file'),
      class: { type: 'string', enum: ['hold', 'queue'], description: 'hold or queue; before the file' },
      file: { type: 'string', contentEncoding: 'binary', description: 'WAV or MP3; at most media.holdMaxBytes (hold) or media.queueMaxBytes (queue)' },
    },
    required: ['file'],
  },
} satisfies Record<string, JsonSchema>;
