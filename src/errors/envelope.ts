import { ERROR_CATALOGUE, type ErrorCode, formatMessage, PortcullisError } from './catalogue.ts';

/**
 * The OpenAI error envelope (https://platform.openai.com/docs/guides/error-codes), which the
 * official SDKs parse into typed errors: `{"error":{"message","type","code","param"}}`. Every
 * Portcullis surface answers in this one shape, with the request id added so a user can quote it.
 */
export interface ErrorEnvelope {
  error: {
    message: string;
    type: string;
    code: string;
    param: string | null;
    request_id: string;
  };
}

export function envelope(err: PortcullisError, requestId: string): ErrorEnvelope {
  // 5xx messages are rendered here, not at throw time, so they can name the request id.
  const message = err.status >= 500 ? formatMessage(err.message, { ...err.vars, requestId }) : err.message;
  return { error: { message, type: err.type, code: err.code, param: err.param, request_id: requestId } };
}

export function errorFor(code: ErrorCode, vars: Record<string, string | number> = {}): PortcullisError {
  return new PortcullisError(code, { vars });
}

export { ERROR_CATALOGUE };
