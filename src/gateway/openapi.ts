// The OpenAPI 3.1 document of the gateway, built from the same route table (and JSON schemas) fastify validates
// with, so the two cannot drift. Error bodies share one schema; their codes are listed in the README.
import type { RouteSpec } from './route-spec.ts';
import type { JsonSchema } from './schemas.ts';

const ERROR_SCHEMA = {
  type: 'object',
  required: ['error', 'message'],
  properties: {
    error: { type: 'string', description: 'stable code, SIPEDGE_ERR_API_*' },
    message: { type: 'string' },
    field: { type: 'string', description: 'the offending field (SIPEDGE_ERR_API_INVALID)' },
    violations: { type: 'array', items: { type: 'object', properties: { rule: { type: 'string' }, message: { type: 'string' } } } },
  },
};

export function openApiDocument(routes: readonly RouteSpec[]): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const r of routes) {
    const p = r.url.replace(/:([A-Za-z]+)/g, '{$1}');
    const op: Record<string, unknown> = {
      summary: r.summary,
      tags: [r.tag],
      security: r.auth === 'none' ? [] : [{ session: [], ...(r.method === 'GET' ? {} : { csrf: [] }) }],
      responses: Object.fromEntries([
        ...Object.entries(r.responses).map(([status, description]) => [status, { description }]),
        ['default', { description: 'error', content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } }],
      ]),
    };
    if (r.params) op.parameters = paramList(r.params);
    if (r.body) op.requestBody = { required: requiredFields(r.body).length > 0, content: { 'application/json': { schema: r.body } } };
    (paths[p] ??= {})[r.method.toLowerCase()] = op;
  }
  return {
    openapi: '3.1.0',
    info: { title: 'sipedge auth gateway', version: '1', description: 'Login, 2FA, sessions, password reset, VoIP credentials, provisioning, admin.' },
    paths,
    components: {
      schemas: { Error: ERROR_SCHEMA },
      securitySchemes: {
        session: { type: 'apiKey', in: 'cookie', name: 'sipedge_session' },
        csrf: { type: 'apiKey', in: 'header', name: 'x-csrf-token' },
      },
    },
  };
}

function requiredFields(s: JsonSchema): string[] {
  return Array.isArray(s.required) ? (s.required as string[]) : [];
}

function paramList(s: JsonSchema): unknown[] {
  const props = (s.properties ?? {}) as Record<string, JsonSchema>;
  return Object.entries(props).map(([name, schema]) => ({ name, in: 'path', required: true, schema }));
}
