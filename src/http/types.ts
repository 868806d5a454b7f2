import type { Server as HttpServer, IncomingMessage, ServerResponse } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';

/** The gateway's Fastify instance: HTTP or HTTPS, logging through our pino logger. */
export type GatewayFastify = FastifyInstance<
  HttpServer | HttpsServer,
  IncomingMessage,
  ServerResponse,
  Logger
>;
