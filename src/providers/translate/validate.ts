/**
 * Small narrowing helpers for request bodies that arrive as parsed JSON (`unknown`). Each throws
 * InvalidParameterError naming the JSON path, and never echoes the value (it may be prompt text).
 */
import { InvalidParameterError } from '../errors.ts';

export type JsonObject = Record<string, unknown>;

export function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A short description of a value's JSON type, for error messages. */
export function jsonType(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  switch (typeof value) {
    case 'string':
      return 'a string';
    case 'number':
      return 'a number';
    case 'boolean':
      return 'a boolean';
    case 'object':
      return 'an object';
    default:
      return typeof value;
  }
}

export function expectObject(value: unknown, path: string): JsonObject {
  if (!isObject(value)) throw new InvalidParameterError(path, `expected an object, got ${jsonType(value)}`);
  return value;
}

export function expectArray(value: unknown, path: string): unknown[] {
  if (!Array.isArray(value))
    throw new InvalidParameterError(path, `expected an array, got ${jsonType(value)}`);
  return value;
}

export function expectString(value: unknown, path: string): string {
  if (typeof value !== 'string')
    throw new InvalidParameterError(path, `expected a string, got ${jsonType(value)}`);
  return value;
}

export function expectNonEmptyString(value: unknown, path: string): string {
  const s = expectString(value, path);
  if (s.length === 0) throw new InvalidParameterError(path, 'must not be empty');
  return s;
}

export function expectBoolean(value: unknown, path: string): boolean {
  if (typeof value !== 'boolean')
    throw new InvalidParameterError(path, `expected a boolean, got ${jsonType(value)}`);
  return value;
}

export function expectNumber(value: unknown, path: string, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw new InvalidParameterError(path, `expected a number, got ${jsonType(value)}`);
  }
  if (value < min || value > max) throw new InvalidParameterError(path, `must be between ${min} and ${max}`);
  return value;
}

export function expectPositiveInteger(value: unknown, path: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) {
    throw new InvalidParameterError(path, 'expected a positive integer');
  }
  return value;
}

/** `stop` / `stop_sequences`: one string or an array of strings. */
export function expectStringList(value: unknown, path: string): string[] {
  if (typeof value === 'string') return [value];
  const list = expectArray(value, path);
  for (let i = 0; i < list.length; i++) expectString(list[i], `${path}[${i}]`);
  return list as string[];
}
