/**
 * Errors raised while translating between the OpenAI Chat Completions and Anthropic Messages
 * formats. Each names the offending field by its JSON path (`messages[2].content`) in `param`, so
 * the error envelope can point the client at it (OpenAI's error object has a `param` field for
 * exactly this), and says why in `detail`. `code` is the matching entry of the error catalogue
 * (src/errors/catalogue.ts). Messages never quote the field's value: it may be prompt text or a
 * secret.
 */

/** Paths can embed client-chosen keys; keep them to a length fit for a log line. */
function boundedPath(param: string): string {
  return param.length > 128 ? `${param.slice(0, 128)}…` : param;
}

/** The client asked for something the target provider cannot do; we refuse rather than drop it. */
export class UnsupportedParameterError extends Error {
  readonly code = 'unsupported_parameter';
  readonly param: string;
  readonly detail: string;

  constructor(path: string, detail = 'the target provider has no equivalent') {
    const param = boundedPath(path);
    super(`Parameter '${param}' is not supported by the target provider: ${detail}`);
    this.name = 'UnsupportedParameterError';
    this.param = param;
    this.detail = detail;
  }
}

/** The client's request is malformed: wrong type, missing required field, invalid value. */
export class InvalidParameterError extends Error {
  readonly code = 'invalid_request';
  readonly param: string;
  readonly detail: string;

  constructor(path: string, detail: string) {
    const param = boundedPath(path);
    super(`Invalid '${param}': ${detail}`);
    this.name = 'InvalidParameterError';
    this.param = param;
    this.detail = detail;
  }
}

/**
 * The upstream provider answered with something we cannot translate: a 502 for the client, not a
 * 400, since the client did nothing wrong.
 */
export class UpstreamFormatError extends Error {
  readonly code = 'upstream_invalid_response';
  readonly param: string;
  readonly detail: string;

  constructor(path: string, detail: string) {
    const param = boundedPath(path);
    super(`Upstream response field '${param}' cannot be translated: ${detail}`);
    this.name = 'UpstreamFormatError';
    this.param = param;
    this.detail = detail;
  }
}
