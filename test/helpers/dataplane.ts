import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { systemClock } from '../../src/clock.ts';
import { createAliasRepository } from '../../src/credentials/aliases.ts';
import { type CredentialRepository, createCredentialRepository } from '../../src/credentials/repository.ts';
import { createEgress } from '../../src/egress/egress.ts';
import { loadPepper } from '../../src/keys/hash.ts';
import { type CreateKeyInput, createKeyRepository, type KeyRepository } from '../../src/keys/repository.ts';
import { type Gateway, startGateway } from '../../src/main.ts';
import { createVault } from '../../src/secrets/vault.ts';
import { createWorkspaceRepository } from '../../src/workspaces/repository.ts';
import { DEFAULT_MOCK_API_KEY, type MockUpstream, startMockUpstream } from '../fixtures/mock-upstream.ts';
import { type CapturedLogs, captureLogs, tempDir, testConfig } from './gateway.ts';

/**
 * A whole gateway (startGateway, the real wiring) in front of the mock provider, with one
 * workspace holding an OpenAI credential (gpt-*, text-embedding-*), an Anthropic credential
 * (claude-*), and an API key for the official SDKs.
 */
export interface DataPlaneFixture {
  gateway: Gateway;
  mock: MockUpstream;
  logs: CapturedLogs;
  workspaceId: string;
  key: string;
  keys: KeyRepository;
  credentials: CredentialRepository;
  aliases: ReturnType<typeof createAliasRepository>;
  openai(key?: string): OpenAI;
  anthropic(key?: string): Anthropic;
  newKey(input?: Partial<CreateKeyInput>): Promise<string>;
  close(): Promise<void>;
}

export const PROVIDER_SECRET = `${DEFAULT_MOCK_API_KEY}`;

/**
 * `seedEgressAllow`: seed the credentials through an egress guard with this allowlist instead of
 * the gateway's (to test a gateway whose policy refuses an address an earlier policy allowed).
 */
export async function startDataPlane(
  env: Record<string, string> = {},
  options: { seedEgressAllow?: string[] } = {},
): Promise<DataPlaneFixture> {
  const mock = await startMockUpstream();
  const tmp = tempDir('pcx-dp-');
  const logs = captureLogs();
  const config = testConfig(tmp.dir, {
    PORTCULLIS_EGRESS_ALLOW: '127.0.0.1',
    PORTCULLIS_UPSTREAM_RETRY_BASE_MS: '5',
    ...env,
  });
  const gateway = await startGateway({ config, logger: logs.logger });
  const clock = systemClock;
  const { store } = gateway;
  const workspace = await createWorkspaceRepository({ store, clock }).create('acme');
  const vault = createVault({ store, keys: gateway.keys, clock });
  const credentials = createCredentialRepository({
    store,
    vault,
    clock,
    egress: options.seedEgressAllow
      ? createEgress({ allow: options.seedEgressAllow, logger: logs.logger })
      : gateway.egress,
    egressAllow: options.seedEgressAllow ?? config.egress.allow,
    logger: logs.logger,
    secretCacheMs: 0,
    onChange: (ws) => gateway.dataPlane.router.invalidate(ws),
  });
  await credentials.add({
    workspaceId: workspace.id,
    name: 'openai-main',
    provider: 'openai',
    baseUrl: `${mock.url}/v1`,
    models: ['gpt-*', 'text-embedding-*'],
    options: { listed: ['gpt-4o', 'gpt-4o-mini', 'text-embedding-3-small'] },
    secret: PROVIDER_SECRET,
  });
  await credentials.add({
    workspaceId: workspace.id,
    name: 'anthropic-main',
    provider: 'anthropic',
    baseUrl: mock.url,
    models: ['claude-*'],
    options: { listed: ['claude-sonnet-4-5', 'claude-haiku-4-5'] },
    secret: PROVIDER_SECRET,
  });
  const pepper = await loadPepper({ store, keys: gateway.keys, clock });
  const keys = createKeyRepository({ store, clock, pepper, counters: gateway.counters });
  const newKey = async (input: Partial<CreateKeyInput> = {}): Promise<string> =>
    (await keys.create({ workspaceId: workspace.id, name: `k${Math.random()}`.slice(0, 12), ...input })).key;
  const key = await newKey({ name: 'sdk' });
  return {
    gateway,
    mock,
    logs,
    workspaceId: workspace.id,
    key,
    keys,
    credentials,
    aliases: createAliasRepository({
      store,
      clock,
      onChange: (ws) => gateway.dataPlane.router.invalidate(ws),
    }),
    openai: (k = key) => new OpenAI({ apiKey: k, baseURL: `${gateway.url}/v1`, maxRetries: 0 }),
    anthropic: (k = key) => new Anthropic({ apiKey: k, baseURL: gateway.url, maxRetries: 0 }),
    newKey,
    close: async () => {
      await gateway.close();
      await mock.close();
      tmp.remove();
    },
  };
}
