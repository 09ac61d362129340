// warrenctl's failures and the exit codes rabbitmqctl gives them (BSD sysexits, as
// RabbitMQ.CLI.Core.ExitCodes): scripts written against rabbitmqctl keep their checks.
export const EXIT_OK = 0;
/** Wrong command line: unknown command or option, missing or extra arguments. */
export const EXIT_USAGE = 64;
/** The input names something that does not exist or is malformed (rabbitmqctl: no_such_vhost, bad argument). */
export const EXIT_DATAERR = 65;
/** The broker cannot be reached. */
export const EXIT_UNAVAILABLE = 69;
/** The broker refused or failed the operation. */
export const EXIT_SOFTWARE = 70;
/** The operation timed out. */
export const EXIT_TEMPFAIL = 75;

export class CtlError extends Error {
  constructor(message: string, readonly exitCode: number) {
    super(message);
  }
}

export const usageError = (message: string) => new CtlError(message, EXIT_USAGE);
export const dataError = (message: string) => new CtlError(message, EXIT_DATAERR);

/** A JSON argument (policy definition, limits), or a data error naming what was wrong. */
export function parseJsonArg(text: string, what: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    throw dataError(`${what} is not valid JSON: ${(err as Error).message}`);
  }
}

/** A whole-number argument (priority, limit, page), or a data error. */
export function parseIntArg(text: string, what: string): number {
  const n = Number(text);
  if (text.trim() === '' || !Number.isInteger(n)) throw dataError(`${what} must be an integer, got "${text}"`);
  return n;
}
