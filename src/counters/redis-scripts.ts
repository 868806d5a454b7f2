/**
 * Lua scripts run atomically inside Redis (https://redis.io/docs/latest/develop/interactive/programmability/eval-intro/):
 * each `Counters` call is one EVALSHA, so checking and charging every spec happens with no other
 * client in between, on every replica alike. Time comes from the server (`TIME`), so replicas with
 * skewed clocks agree. Since Redis 5 scripts replicate their effects, which `TIME` requires;
 * `replicate_commands` switches that on for older servers and is a no-op on newer ones.
 *
 * RATE is a line-by-line copy of gcra.ts (normalize, charge, remaining, resetMs, evaluateRate);
 * change both together. Lua 5.1 numbers are doubles, which is why limit × windowMs is bounded.
 */

const PRELUDE = `
if redis.replicate_commands then pcall(redis.replicate_commands) end
local function divmod(a, b)
  local q = math.floor(a / b)
  local r = a - q * b
  if r < 0 then q = q - 1; r = r + b elseif r >= b then q = q + 1; r = r - b end
  return q, r
end
`;

/** `now` in whole milliseconds from the Redis server's clock (tests swap this line for a fixed time). */
export const SERVER_NOW_LUA =
  "local t = redis.call('TIME')\nlocal now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)";

/**
 * GCRA state access and arithmetic (gcra.ts in Lua), shared by RATE and ADMIT. Uses `now`, which
 * the script defines before it.
 */
const GCRA_LUA = `local function read(key)
  local s = redis.call('GET', key)
  if not s then return nil end
  local q, r, l = string.match(s, '^(%-?%d+):(%d+):(%d+)$')
  if not q then return nil end
  return { tonumber(q), tonumber(r), tonumber(l) }
end

local function normalize(st, limit)
  if st == nil or st[1] < now then return { now, 0, limit } end
  local q, r = st[1], st[2]
  if st[3] ~= limit then
    local cq, cr = divmod(r * limit, st[3])
    r = cq
    if cr > 0 then r = cq + 1 end
    if r >= limit then q = q + 1; r = r - limit end
  end
  return { q, r, limit }
end

local function charge(st, w, limit, cost)
  if cost > limit then return false, st, -1 end
  local iq, ir = divmod(cost * w, limit)
  local q, r = st[1] + iq, st[2] + ir
  if r >= limit then q = q + 1; r = r - limit end
  local over = q - now - w
  if over < 0 or (over == 0 and r == 0) then return true, { q, r, limit }, 0 end
  if r > 0 then over = over + 1 end
  return false, st, over
end

local function remaining(st, w)
  local units = divmod((w - (st[1] - now)) * st[3] - st[2], w)
  if units < 0 then return 0 end
  return units
end

local function reset(st)
  local ms = st[1] - now
  if st[2] > 0 then ms = ms + 1 end
  if ms < 0 then return 0 end
  return ms
end
`;

/**
 * KEYS: one per spec. ARGV: limit, windowMs, cost per spec.
 * Returns { allowed (0|1), then per spec: remaining, resetMs, retryAfterMs (-1 = never) }.
 */
export const RATE_LUA = `${PRELUDE}
${SERVER_NOW_LUA}
local n = #KEYS

${GCRA_LUA}
local working = {}
local out = { 1 }
for i = 1, n do
  local key = KEYS[i]
  local limit, w, cost = tonumber(ARGV[3 * i - 2]), tonumber(ARGV[3 * i - 1]), tonumber(ARGV[3 * i])
  local st = working[key]
  if st == nil then st = read(key) end
  st = normalize(st, limit)
  local ok, nxt = charge(st, w, limit, cost)
  if not ok then out = nil; break end
  working[key] = nxt
  out[#out + 1] = remaining(nxt, w)
  out[#out + 1] = reset(nxt)
  out[#out + 1] = 0
end

if out then
  for key, st in pairs(working) do
    local ttl = reset(st)
    if ttl > 0 then
      redis.call('SET', key, string.format('%.0f:%.0f:%.0f', st[1], st[2], st[3]), 'PX', ttl)
    else
      redis.call('DEL', key)
    end
  end
  return out
end

out = { 0 }
for i = 1, n do
  local limit, w, cost = tonumber(ARGV[3 * i - 2]), tonumber(ARGV[3 * i - 1]), tonumber(ARGV[3 * i])
  local st = normalize(read(KEYS[i]), limit)
  local _, _, retry = charge(st, w, limit, cost)
  out[#out + 1] = remaining(st, w)
  out[#out + 1] = reset(st)
  out[#out + 1] = retry
end
return out
`;

/**
 * KEYS: one per spec. ARGV: amount, limit, ttlMs per spec.
 * Returns { ok (0|1), refusedIndex (0-based, -1 when ok), values... }.
 */
export const RESERVE_LUA = `${PRELUDE}
local n = #KEYS
local function value(key)
  return tonumber(redis.call('GET', key) or '0')
end
local working = {}
for i = 1, n do
  local key = KEYS[i]
  local amount, limit = tonumber(ARGV[3 * i - 2]), tonumber(ARGV[3 * i - 1])
  local current = working[key]
  if current == nil then current = value(key) end
  if current + amount > limit then
    local out = { 0, i - 1 }
    for j = 1, n do out[#out + 1] = value(KEYS[j]) end
    return out
  end
  working[key] = current + amount
end
local out = { 1, -1 }
for i = 1, n do
  local key = KEYS[i]
  out[#out + 1] = redis.call('INCRBY', key, ARGV[3 * i - 2])
  if redis.call('PTTL', key) < 0 then redis.call('PEXPIRE', key, ARGV[3 * i]) end
end
return out
`;

/**
 * RESERVE then RATE in one script, all or nothing across both (Counters.admit): nothing is written
 * until every reservation and every rate has room. KEYS: the reservation keys, then the rate keys.
 * ARGV: the number of reservations, then amount, limit, ttlMs per reservation, then limit,
 * windowMs, cost per rate spec. Returns { ok (0|1), refusedIndex (0-based reservation, -1 when
 * none), one value per reservation, rateStatus (1 allowed, 0 refused, -1 not evaluated), then per
 * rate spec (when evaluated): remaining, resetMs, retryAfterMs (-1 = never) }.
 */
export const ADMIT_LUA = `${PRELUDE}
${SERVER_NOW_LUA}
${GCRA_LUA}
local nr = tonumber(ARGV[1])
local nt = #KEYS - nr
local base = 1 + 3 * nr

local function value(key)
  return tonumber(redis.call('GET', key) or '0')
end
local function currentValues(out)
  for j = 1, nr do out[#out + 1] = value(KEYS[j]) end
  return out
end

local held = {}
for i = 1, nr do
  local key = KEYS[i]
  local amount, limit = tonumber(ARGV[1 + 3 * i - 2]), tonumber(ARGV[1 + 3 * i - 1])
  local current = held[key]
  if current == nil then current = value(key) end
  if current + amount > limit then
    local out = currentValues({ 0, i - 1 })
    out[#out + 1] = -1
    return out
  end
  held[key] = current + amount
end

local working = {}
local rated = {}
local allowed = true
for i = 1, nt do
  local key = KEYS[nr + i]
  local limit, w, cost = tonumber(ARGV[base + 3 * i - 2]), tonumber(ARGV[base + 3 * i - 1]), tonumber(ARGV[base + 3 * i])
  local st = working[key]
  if st == nil then st = read(key) end
  st = normalize(st, limit)
  local ok, nxt = charge(st, w, limit, cost)
  if not ok then allowed = false; break end
  working[key] = nxt
  rated[#rated + 1] = remaining(nxt, w)
  rated[#rated + 1] = reset(nxt)
  rated[#rated + 1] = 0
end

if not allowed then
  local out = currentValues({ 0, -1 })
  out[#out + 1] = 0
  for i = 1, nt do
    local limit, w, cost = tonumber(ARGV[base + 3 * i - 2]), tonumber(ARGV[base + 3 * i - 1]), tonumber(ARGV[base + 3 * i])
    local st = normalize(read(KEYS[nr + i]), limit)
    local _, _, retry = charge(st, w, limit, cost)
    out[#out + 1] = remaining(st, w)
    out[#out + 1] = reset(st)
    out[#out + 1] = retry
  end
  return out
end

local out = { 1, -1 }
for i = 1, nr do
  local key = KEYS[i]
  out[#out + 1] = redis.call('INCRBY', key, ARGV[1 + 3 * i - 2])
  if redis.call('PTTL', key) < 0 then redis.call('PEXPIRE', key, ARGV[1 + 3 * i]) end
end
for key, st in pairs(working) do
  local ttl = reset(st)
  if ttl > 0 then
    redis.call('SET', key, string.format('%.0f:%.0f:%.0f', st[1], st[2], st[3]), 'PX', ttl)
  else
    redis.call('DEL', key)
  end
end
out[#out + 1] = 1
for _, v in ipairs(rated) do out[#out + 1] = v end
return out
`;

/** KEYS[1]; ARGV: delta, ttlMs. INCRBY, then an expiry if the key has none (new key). */
export const ADD_LUA = `
local v = redis.call('INCRBY', KEYS[1], ARGV[1])
if redis.call('PTTL', KEYS[1]) < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return v
`;
