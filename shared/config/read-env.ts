/**
 * Reads the environment against `ENV_SCHEMA`: each variable declared there is taken (trimmed; empty means
 * unset), turned from its string into the declared type, given its default when unset, and checked.
 * Every bad variable adds one problem naming it; reading goes on, so the caller reports them all at once.
 *
 * The string-to-type step is strict and ours, not TypeBox's `Convert` (which would take `1e3` or `0x10`
 * as numbers): an integer is optional `-` and digits, a boolean is exactly `true` or `false`. A value that
 * does not convert stays a string, so the schema check reports it. TypeBox then fills the defaults
 * (`Value.Default`) and lists what does not match (`Value.Errors`); this module only words the problems.
 */
import { Value } from 'typebox/value';
import { ENV_SCHEMA, type EnvOptions, type OptionName } from './schema.js';

export type Env = Record<string, string | undefined>;

/** The keywords of one option's schema that reading looks at. */
interface OptionSchema {
  type?: string;
  enum?: readonly string[];
  default?: unknown;
  minimum?: number;
  maximum?: number;
  description?: string;
  errorMessage?: string;
}

const OPTIONS: Record<string, OptionSchema | undefined> = ENV_SCHEMA.properties;

/** The environment's value of `name`, trimmed; an empty value counts as unset. */
export function envValue(env: Env, name: string): string | undefined {
  const v = env[name]?.trim();
  return v === undefined || v === '' ? undefined : v;
}

/**
 * Every option of the schema, read from `env`, and the problem of each bad one (by name). `computed`
 * supplies defaults the schema cannot hold (they are checked like a set value). A bad integer, boolean or
 * enum falls back to its default (or unset), so the rules that run after this see a value of the declared
 * type; a string that fails its pattern is kept as set, so those rules still see what the operator wrote.
 */
export function readEnv(
  env: Env,
  computed: Partial<EnvOptions> = {},
): { options: EnvOptions; problems: Map<OptionName, string> } {
  const raw: Record<string, string> = {};
  const values: Record<string, unknown> = { ...computed };
  for (const [name, schema] of Object.entries(OPTIONS)) {
    const text = envValue(env, name);
    if (text === undefined || schema === undefined) continue;
    raw[name] = text;
    values[name] = fromString(schema, text);
  }
  const read = Value.Default(ENV_SCHEMA, values) as Record<string, unknown>;

  const problems = new Map<OptionName, string>();
  for (const error of Value.Errors(ENV_SCHEMA, read)) {
    const name = error.instancePath.slice(1) as OptionName;
    const schema = OPTIONS[name];
    if (schema === undefined || problems.has(name)) continue;
    problems.set(name, problemOf(name, schema, raw[name] ?? String(read[name])));
    if (schema.type !== 'string') read[name] = schema.default;
  }
  return { options: read as EnvOptions, problems };
}

/** The environment's string as the option's declared type, or the string itself when it is not one. */
function fromString(schema: OptionSchema, text: string): unknown {
  if (schema.type === 'integer') {
    const n = Number(text);
    return /^-?\d+$/.test(text) && Number.isSafeInteger(n) ? n : text;
  }
  if (schema.type === 'boolean') return text === 'true' ? true : text === 'false' ? false : text;
  return text;
}

/** The problem of a bad value, naming the variable (and repeating the value where it holds no secret). */
function problemOf(name: string, schema: OptionSchema, value: string): string {
  if (schema.errorMessage !== undefined) return schema.errorMessage.replace('{value}', JSON.stringify(value));
  if (schema.type === 'integer') {
    return `${name}=${JSON.stringify(value)} must be an integer from ${schema.minimum} to ${schema.maximum} (${schema.description})`;
  }
  if (schema.type === 'boolean') return `${name} must be true or false`;
  if (schema.enum !== undefined)
    return `${name}=${JSON.stringify(value)} must be one of ${schema.enum.join(', ')}`;
  return `${name} is not valid`;
}
