/** Time, injected so tests can move it. Never read Date.now() in code that a test needs to steer. */
export interface Clock {
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };
