// The API errors the routes raise most often, ready-made. The codes and the ApiError class are src/errors.ts's; mapping
// of fastify's own errors is gateway.ts's error handler.
import { ApiError } from '../errors.ts';

export const notFound = (what: string): ApiError => new ApiError(404, 'SIPEDGE_ERR_API_NOT_FOUND', `${what} not found`);
export const forbidden = (why = 'your role may not do this'): ApiError => new ApiError(403, 'SIPEDGE_ERR_API_FORBIDDEN', why);
export const rateLimited = (seconds: number): ApiError =>
  new ApiError(429, 'SIPEDGE_ERR_API_RATE_LIMITED', `too many failed attempts; try again in ${seconds} s`, { retryAfter: seconds }, seconds);
