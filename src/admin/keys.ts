import { changedFields, keyEvent } from '../audit/describe.ts';
import { PortcullisError } from '../errors/catalogue.ts';
import { DATA_PLANE_SCOPES, type Scope } from '../keys/types.ts';
import { type Actor, broaderThan, enforce, type KeyRestrictions } from './auth.ts';
import { notFound } from './errors.ts';
import { type AdminDeps, type AdminRoute, route } from './route.ts';
import {
  ApiKey,
  ApiKeyWithSecret,
  CreateKeyBody,
  KeyIdParams,
  listOf,
  RotateKeyBody,
  UpdateKeyBody,
} from './schemas.ts';

/**
 * API keys of the caller's workspace. The raw key is in exactly two responses: create and rotate.
 * Changes are broadcast on `keys:changed` by the repository, so every replica's verifier (this
 * one at once) drops its cached copy. Writes that give a key scopes, or hand out its secret,
 * pass the key's scopes to `can`: no actor can mint or take over a key stronger than itself.
 */
export function keyRoutes(deps: AdminDeps): AdminRoute[] {
  const { keys, audit } = deps;

  /** The key, if the actor may perform `action` on it; else the 404 a missing key gets (or a 403). */
  async function load(actor: Actor, id: string, action: 'keys:read' | 'keys:write') {
    const record = await keys.show(id, { workspaceId: actor.workspaceId });
    // ownerId: a User may touch only the keys they created; another member's is as good as absent.
    enforce(actor, action, { workspaceId: record.workspaceId, ownerId: record.createdBy }, () =>
      notFound('API key', id),
    );
    return record;
  }

  /** Refuses (403) unless the actor holds every scope the key will carry after this write. */
  function mayGrant(actor: Actor, workspaceId: string, scopes: readonly Scope[]): void {
    enforce(actor, 'keys:write', { workspaceId, grantsScopes: scopes }, () =>
      notFound('workspace', workspaceId),
    );
  }

  /** A key may create or shape keys only within its own restrictions (no privilege escalation). */
  function withinOwn(actor: Actor, granted: KeyRestrictions): void {
    const why = broaderThan(actor.restrictions, granted);
    if (why)
      throw new PortcullisError('grant_exceeds_own', { param: why.field, vars: { detail: why.detail } });
  }

  return [
    route({
      method: 'GET',
      path: '/keys',
      action: 'keys:read',
      tag: 'keys',
      summary: 'List API keys (masked; deleted keys are left out)',
      status: 200,
      response: listOf(ApiKey),
      async handler({ actor }) {
        const { own } = enforce(actor, 'keys:read', { workspaceId: actor.workspaceId }, () =>
          notFound('workspace', actor.workspaceId),
        );
        const all = await keys.list(actor.workspaceId);
        return { data: own ? all.filter((k) => k.createdBy === actor.id) : all };
      },
    }),
    route({
      method: 'POST',
      path: '/keys',
      action: 'keys:write',
      tag: 'keys',
      summary: 'Create an API key (the raw key is returned once)',
      description:
        'The calling key can grant only scopes it holds itself (403 insufficient_scope otherwise). ' +
        'Without `scopes`, the key gets every data-plane scope.',
      body: CreateKeyBody,
      status: 201,
      response: ApiKeyWithSecret,
      async handler({ actor, body, context }) {
        const scopes = body.scopes ?? [...DATA_PLANE_SCOPES];
        mayGrant(actor, actor.workspaceId, scopes);
        withinOwn(actor, {
          models: body.models ?? ['*'],
          allowIps: body.allowIps ?? [],
          allowOrigins: body.allowOrigins ?? [],
          limits: body.limits ?? {},
          expiresAt: body.expiresAt ?? null,
        });
        const { key, record } = await audit.record(
          context,
          (tx) =>
            keys.inTx(tx).create({ ...body, scopes, workspaceId: actor.workspaceId, createdBy: actor.id }),
          (created) => keyEvent('key.created', created.record),
        );
        return { ...record, key };
      },
    }),
    route({
      method: 'GET',
      path: '/keys/:id',
      action: 'keys:read',
      tag: 'keys',
      summary: 'Show an API key (masked)',
      params: KeyIdParams,
      status: 200,
      response: ApiKey,
      async handler({ actor, params }) {
        return load(actor, params.id, 'keys:read');
      },
    }),
    route({
      method: 'PATCH',
      path: '/keys/:id',
      action: 'keys:write',
      tag: 'keys',
      summary: 'Change an active API key',
      description: 'Takes effect on every replica within one second. Only keys no stronger than the caller.',
      params: KeyIdParams,
      body: UpdateKeyBody,
      status: 200,
      response: ApiKey,
      async handler({ actor, params, body, context }) {
        const current = await load(actor, params.id, 'keys:write');
        // Both what the key holds now (no loosening a stronger key) and what it is given.
        mayGrant(actor, current.workspaceId, [...current.scopes, ...(body.scopes ?? [])]);
        withinOwn(actor, {
          models: body.models ?? current.models,
          allowIps: body.allowIps ?? current.allowIps,
          allowOrigins: body.allowOrigins ?? current.allowOrigins,
          limits: body.limits ?? current.limits,
          expiresAt: body.expiresAt === undefined ? current.expiresAt : body.expiresAt,
        });
        return audit.record(
          context,
          (tx) => keys.inTx(tx).update(params.id, body, { workspaceId: actor.workspaceId }),
          (updated) =>
            keyEvent('key.updated', updated, { changed: changedFields(body), scopes: updated.scopes }),
        );
      },
    }),
    route({
      method: 'POST',
      path: '/keys/:id/revoke',
      action: 'keys:write',
      tag: 'keys',
      summary: 'Revoke an API key (immediately)',
      params: KeyIdParams,
      status: 200,
      response: ApiKey,
      async handler({ actor, params, context }) {
        await load(actor, params.id, 'keys:write');
        return audit.record(
          context,
          (tx) => keys.inTx(tx).revoke(params.id, { workspaceId: actor.workspaceId }),
          (revoked) => keyEvent('key.revoked', revoked),
        );
      },
    }),
    route({
      method: 'POST',
      path: '/keys/:id/rotate',
      action: 'keys:write',
      tag: 'keys',
      summary: 'Rotate an API key (the new raw key is returned once)',
      description:
        'The current secret keeps working for `graceSeconds` (default 24 h, at most 30 days; 0 stops it now).',
      params: KeyIdParams,
      body: RotateKeyBody,
      bodyOptional: true,
      status: 200,
      response: ApiKeyWithSecret,
      async handler({ actor, params, body, context }) {
        const current = await load(actor, params.id, 'keys:write');
        // Rotating hands out a working secret for the key's scopes: the caller must hold them.
        mayGrant(actor, current.workspaceId, current.scopes);
        const graceMs = body.graceSeconds === undefined ? undefined : body.graceSeconds * 1000;
        const { key, record } = await audit.record(
          context,
          (tx) => keys.inTx(tx).rotate(params.id, { workspaceId: actor.workspaceId, graceMs }),
          (rotated) =>
            keyEvent('key.rotated', rotated.record, {
              graceSeconds: graceMs === undefined ? 86_400 : graceMs / 1000,
            }),
        );
        return { ...record, key };
      },
    }),
    route({
      method: 'DELETE',
      path: '/keys/:id',
      action: 'keys:write',
      tag: 'keys',
      summary: 'Delete an API key (soft: revoked, hidden from lists, kept for the audit trail)',
      params: KeyIdParams,
      status: 200,
      response: ApiKey,
      async handler({ actor, params, context }) {
        await load(actor, params.id, 'keys:write');
        return audit.record(
          context,
          (tx) => keys.inTx(tx).delete(params.id, { workspaceId: actor.workspaceId }),
          (deleted) => keyEvent('key.deleted', deleted),
        );
      },
    }),
  ];
}
