// Errors of the management API in RabbitMQ's shape: {"error": ..., "reason": ...} with its status
// codes, so tools that read the reason (rabbitmqadmin, Terraform's provider) print something useful.
export class HttpError extends Error {
  constructor(readonly status: number, readonly error: string, readonly reason: string) {
    super(reason);
  }
}

export const notFound = (reason = 'Not Found') => new HttpError(404, 'Object Not Found', reason);
export const badRequest = (reason: string) => new HttpError(400, 'bad_request', reason);
export const loginFailed = (reason = 'Login failed') => new HttpError(401, 'not_authorized', reason);
/** Authenticated but not allowed: RabbitMQ answers 401 here too (never 403), without a new login challenge. */
export const notAuthorised = (reason = 'Not administrator user') => new HttpError(401, 'not_authorised', reason);
export const methodNotAllowed = () => new HttpError(405, 'Method Not Allowed', 'Method Not Allowed');
