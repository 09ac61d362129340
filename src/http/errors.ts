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
/**
 * An authenticated user lacking a tag or permission. RabbitMQ 3.13 answers these with 401 too
 * (its code says "consider changing to 403 in 4.0"), error "not_authorised" (British spelling)
 * as opposed to a failed login's "not_authorized", and without a WWW-Authenticate challenge.
 */
export const forbidden = (reason = 'Not administrator user') => new HttpError(401, 'not_authorised', reason);
export const methodNotAllowed = () => new HttpError(405, 'Method Not Allowed', 'Method Not Allowed');
