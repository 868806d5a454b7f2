import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseAllowList } from '../egress/address-policy.ts';
import { EgressDeniedError } from '../egress/errors.ts';
import { modelMatcher } from '../util/glob.ts';
import { CredentialError } from './errors.ts';
import {
  azureDeployment,
  type BaseUrlCheck,
  DEFAULT_MODELS,
  validateBaseUrl,
  validateModels,
  validateOptions,
} from './validate.ts';

const check = (allow: string[], deny?: EgressDeniedError): BaseUrlCheck & { unresolved: string[] } => {
  const unresolved: string[] = [];
  return {
    unresolved,
    allow: parseAllowList(allow),
    egress: {
      checkUrl: async () => {
        if (deny) throw deny;
      },
    },
    onUnresolved: (h) => unresolved.push(h),
  };
};

describe('credential validation', () => {
  it('gives openai and anthropic default models that match their catalogues', () => {
    const openai = modelMatcher(validateModels('openai', undefined));
    for (const m of ['gpt-4o', 'gpt-4.1-mini', 'o3', 'o4-mini', 'text-embedding-3-small'])
      assert.ok(openai(m), m);
    assert.ok(!openai('claude-sonnet-4-5'));
    assert.deepEqual(validateModels('anthropic', undefined), DEFAULT_MODELS.anthropic);
    assert.throws(() => validateModels('azure-openai', undefined), CredentialError);
    assert.deepEqual(validateModels('openai', [' gpt-4o ', 'gpt-4o', '']), ['gpt-4o']);
  });

  it('allows plain http only for hosts the egress allowlist names', async () => {
    const allow = ['vllm.internal', '*.corp.example', '10.0.0.0/8'];
    for (const url of [
      'http://vllm.internal:8000/v1',
      'http://gpu1.corp.example/v1',
      'http://10.1.2.3:8000',
    ]) {
      assert.equal(await validateBaseUrl('openai-compatible', url, check(allow)), url.replace(/\/$/, ''));
    }
    for (const url of ['http://other.internal/v1', 'http://11.0.0.1/v1', 'http://corp.example/v1']) {
      await assert.rejects(validateBaseUrl('openai-compatible', url, check(allow)), /must use https/);
    }
  });

  it('turns a DNS failure into a warning and a policy refusal into an error naming the fix', async () => {
    const c = check([], new EgressDeniedError('dns_failed', 'api.openai.com'));
    assert.equal(await validateBaseUrl('openai', undefined, c), 'https://api.openai.com/v1');
    assert.deepEqual(c.unresolved, ['api.openai.com']);
    await assert.rejects(
      validateBaseUrl(
        'openai',
        'https://gw.example/v1',
        check([], new EgressDeniedError('private_address', 'gw.example', 'private')),
      ),
      (err: unknown) =>
        err instanceof CredentialError &&
        err.code === 'base_url_refused' &&
        err.field === 'baseUrl' &&
        err.message.includes('PORTCULLIS_EGRESS_ALLOW=gw.example'),
    );
  });

  it('maps Azure deployments and defaults the api-version', () => {
    const options = validateOptions('azure-openai', ['gpt-4o*'], { deployments: { 'gpt-4o': 'prod-4o' } });
    assert.equal(options.apiVersion, '2024-10-21');
    assert.equal(azureDeployment(options, 'gpt-4o'), 'prod-4o');
    assert.equal(azureDeployment(options, 'gpt-4o-mini'), 'gpt-4o-mini');
    assert.throws(
      () => validateOptions('azure-openai', ['*'], { deployments: { 'gpt-4o': 'bad name' } }),
      /deployment/,
    );
  });
});
