import picomatch from 'picomatch';

/**
 * Model-name globs (`gpt-4o*`, `claude-*-sonnet-*`, `*`) used by key model allowlists and by
 * provider credentials. Model names are not paths: `*` matches any characters, `/` included
 * (e.g. `meta-llama/*` on an OpenAI-compatible server). Compiled matchers are cached per pattern list.
 */
export type ModelMatcher = (model: string) => boolean;

const cache = new Map<string, ModelMatcher>();
const MAX_CACHED = 10_000;

export function modelMatcher(globs: readonly string[]): ModelMatcher {
  const cacheKey = globs.join('\u0000');
  const hit = cache.get(cacheKey);
  if (hit) return hit;
  const matchers = globs.map((g) => picomatch(g, { nocase: true, dot: true, bash: true }));
  const matcher: ModelMatcher = (model) =>
    matchers.some((m) => m(model.replaceAll('/', '\u2215')) || m(model));
  if (cache.size >= MAX_CACHED) cache.clear();
  cache.set(cacheKey, matcher);
  return matcher;
}

/** True when the glob is well-formed and reasonably sized; used to validate input at the edge. */
export function isValidModelGlob(glob: string): boolean {
  if (glob.length === 0 || glob.length > 200 || /[\s\\]/.test(glob)) return false;
  try {
    picomatch.makeRe(glob);
    return true;
  } catch {
    return false;
  }
}
