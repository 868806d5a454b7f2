import { Type as T } from '@sinclair/typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { ContentCapture } from '../content/capture.ts';
import type { GatewayFastify } from '../http/types.ts';
import { type ChatBody, chatCompletions } from './chat.ts';
import type { DataPlaneDeps } from './context.ts';
import { type MessagesBody, messages } from './messages.ts';
import { type ModelBody, openAIOnly } from './openai-only.ts';

/**
 * The data plane: the OpenAI- and Anthropic-compatible endpoints under /v1. Each route validates
 * only what Portcullis itself needs (the model, the message list); every other field is the
 * provider's to judge and is passed through, or refused by name when the target cannot honour it.
 */
const Model = T.String({ minLength: 1, maxLength: 256 });

const schemas = {
  chat: T.Object(
    {
      model: Model,
      messages: T.Array(T.Unknown(), { minItems: 1 }),
      stream: T.Optional(T.Union([T.Boolean(), T.Null()])),
      stream_options: T.Optional(
        T.Union([
          T.Object({ include_usage: T.Optional(T.Boolean()) }, { additionalProperties: true }),
          T.Null(),
        ]),
      ),
    },
    { additionalProperties: true },
  ),
  messages: T.Object(
    {
      model: Model,
      messages: T.Array(T.Unknown(), { minItems: 1 }),
      max_tokens: T.Integer({ minimum: 1 }),
      stream: T.Optional(T.Boolean()),
    },
    { additionalProperties: true },
  ),
  embeddings: T.Object({ model: Model, input: T.Unknown() }, { additionalProperties: true }),
  responses: T.Object(
    { model: Model, stream: T.Optional(T.Union([T.Boolean(), T.Null()])) },
    { additionalProperties: true },
  ),
};

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by proxy() for calls of workspaces that opted in to content logging (src/content). */
    contentCapture: ContentCapture | undefined;
  }
}

export function registerDataPlane(app: GatewayFastify, deps: DataPlaneDeps): void {
  app.decorateRequest('contentCapture', undefined);
  app.addHook('onSend', async (request, reply, payload) =>
    request.contentCapture ? request.contentCapture.tap(payload, reply.statusCode) : payload,
  );
  app.post<{ Body: ChatBody }>(
    '/v1/chat/completions',
    { schema: { body: schemas.chat } },
    chatCompletions(deps),
  );
  app.post<{ Body: MessagesBody }>('/v1/messages', { schema: { body: schemas.messages } }, messages(deps));
  app.post<{ Body: ModelBody }>(
    '/v1/embeddings',
    { schema: { body: schemas.embeddings } },
    openAIOnly(deps, 'embeddings'),
  );
  app.post<{ Body: ModelBody }>(
    '/v1/responses',
    { schema: { body: schemas.responses } },
    openAIOnly(deps, 'responses'),
  );
  app.get('/v1/models', async (request: FastifyRequest, reply: FastifyReply) => {
    const caller = await deps.admit(request, reply, 'models:read');
    const models = await deps.listModels(caller);
    return {
      object: 'list',
      data: models.map((id) => ({ id, object: 'model', created: 0, owned_by: 'portcullis' })),
    };
  });
}
