/**
 * Where the people commands find the gateway, the token and the person's key: flags first, then
 * the environment (SWOOSH_GATEWAY_URL, SWOOSH_TOKEN, SWOOSH_KEY_FILE, SWOOSH_PROFILE), then a
 * profile of the config file (`~/.config/swoosh/config.json`, or SWOOSH_CONFIG_FILE), like
 * Temporal's envconfig. On the machine that runs `npm run dev` a command with no token anywhere
 * uses the development token of its role from the data folder, so a local try needs no setup.
 */
import { readdir, readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { defaultTokensFile } from '../../api/auth';
import { SwooshClient } from '../../api/client';
import { resolveDataDir } from '../../host/data-dir';
import { isErrno } from '../../host/durable-fs';
import { type Role, TokenEntry, TokensFile } from '../../schemas/auth';
import { Actor } from '../../schemas/owner-controls';
import { UsageError } from '../usage';
import { loadPersonKey, type PersonSigner } from './key-file';

export interface CliIo {
  out(line: string): void;
  err(line: string): void;
  env: Record<string, string | undefined>;
  /** Ends a long-running command (watch, --wait) early, e.g. on Ctrl-C. */
  signal?: AbortSignal;
}

const DEFAULT_URL = 'http://127.0.0.1:3000';

const GatewayUrl = z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' });
const Token = TokenEntry.options[0].shape.token;

const Profile = z.strictObject({
  url: GatewayUrl.optional(),
  token: Token.optional(),
  /** A person key file (`swoosh keys new`); relative paths are relative to the config file. */
  key: z.string().min(1).optional(),
  /** Your name at the gateway (the token's name): owner commands must name their sender. */
  actor: Actor.optional(),
});

export const ConfigFile = z.strictObject({
  defaultProfile: z.string().min(1).default('default'),
  profiles: z.record(z.string().min(1), Profile).default({}),
});
export type ConfigFile = z.infer<typeof ConfigFile>;

/** Options every people command takes. */
export const COMMON_OPTIONS = {
  json: { type: 'boolean' },
  profile: { type: 'string' },
  url: { type: 'string' },
  token: { type: 'string' },
  key: { type: 'string' },
  actor: { type: 'string' },
} as const;

type OptionSpec = Record<string, { type: 'string' | 'boolean'; multiple?: boolean; short?: string }>;

/** Parses `args` strictly (unknown options are a usage error) into options and positionals. */
export function parse<O extends OptionSpec>(args: string[], options: O) {
  try {
    return parseArgs({
      args,
      options: { ...COMMON_OPTIONS, ...options },
      strict: true,
      allowPositionals: true,
    });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

/** A zod-parsed flag: a usage error naming the flag and the reason when it does not parse. */
export function flag<S extends z.ZodType>(name: string, schema: S, value: unknown): z.output<S> {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  throw new UsageError(`${name}: ${parsed.error.issues.map((i) => i.message).join('; ')}`);
}

export function configFilePath(env: Record<string, string | undefined>): string {
  if (env.SWOOSH_CONFIG_FILE?.trim()) return resolve(env.SWOOSH_CONFIG_FILE.trim());
  const base = env.XDG_CONFIG_HOME?.trim() || join(env.HOME?.trim() || homedir(), '.config');
  return join(base, 'swoosh', 'config.json');
}

/** Where `keys new` puts person keys: `keys/` next to the config file. */
export function keysDir(env: Record<string, string | undefined>): string {
  return join(dirname(configFilePath(env)), 'keys');
}

async function readConfig(path: string): Promise<ConfigFile | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if (isErrno(error, 'ENOENT')) return undefined;
    throw error;
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    // JSON.parse's message quotes the input, which may hold a token.
    throw new UsageError(`config file ${path} is not JSON`);
  }
  const parsed = ConfigFile.safeParse(json);
  if (!parsed.success) {
    const why = parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
    throw new UsageError(`config file ${path}: ${why}`);
  }
  return parsed.data;
}

export interface Context {
  client: SwooshClient;
  json: boolean;
  io: CliIo;
  /** The person's signer: from --key, SWOOSH_KEY_FILE, the profile, or the one key in the keys folder. */
  signer(): Promise<PersonSigner>;
  /**
   * Who the token says you are, for owner commands: --actor, SWOOSH_ACTOR, the profile's `actor`,
   * the development token's name, or else your key's name.
   */
  actor(): Promise<string>;
}

/**
 * Resolves the gateway, the token and the key for one command. `role` is the development token a
 * command falls back to when no token is configured anywhere.
 */
export async function context(
  values: { json?: boolean; profile?: string; url?: string; token?: string; key?: string; actor?: string },
  io: CliIo,
  role: Role,
): Promise<Context> {
  const path = configFilePath(io.env);
  const config = await readConfig(path);
  const profileName = values.profile ?? io.env.SWOOSH_PROFILE ?? config?.defaultProfile ?? 'default';
  const profile = config?.profiles[profileName];
  if (!profile && (values.profile !== undefined || io.env.SWOOSH_PROFILE !== undefined))
    throw new UsageError(`no profile "${profileName}" in ${path}`);
  const url = flag(
    'gateway URL',
    GatewayUrl,
    values.url ?? io.env.SWOOSH_GATEWAY_URL ?? profile?.url ?? DEFAULT_URL,
  );
  const given = values.token ?? io.env.SWOOSH_TOKEN ?? profile?.token;
  const dev = given === undefined ? await developmentToken(io.env, role) : undefined;
  const token = given !== undefined ? flag('token', Token, given) : dev?.token;
  const actor = values.actor ?? io.env.SWOOSH_ACTOR ?? profile?.actor ?? dev?.name;
  const keyPath =
    values.key ?? io.env.SWOOSH_KEY_FILE ?? (profile?.key && resolve(dirname(path), profile.key));
  let loading: Promise<PersonSigner> | undefined;
  const signer = () => (loading ??= keyPath ? loadPersonKey(keyPath) : onlyKey(io.env));
  return {
    client: new SwooshClient(url, token),
    json: values.json ?? false,
    io,
    signer,
    actor: async () => (actor !== undefined ? flag('--actor', Actor, actor) : (await signer()).name),
  };
}

/** The `role` token of a local `npm run dev` (its tokens file), when there is one. */
async function developmentToken(
  env: Record<string, string | undefined>,
  role: Role,
): Promise<{ token: string; name: string } | undefined> {
  const file = env.SWOOSH_GATEWAY_TOKENS_FILE ?? defaultTokensFile(resolveDataDir(env));
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    return undefined;
  }
  let parsed;
  try {
    parsed = TokensFile.safeParse(JSON.parse(text));
  } catch {
    return undefined;
  }
  if (!parsed.success) return undefined;
  const entry = parsed.data.tokens.find((t) => t.role === role && 'token' in t);
  return entry && 'token' in entry ? { token: entry.token, name: entry.name } : undefined;
}

async function onlyKey(env: Record<string, string | undefined>): Promise<PersonSigner> {
  const dir = keysDir(env);
  let files: string[] = [];
  try {
    files = (await readdir(dir)).filter((f) => f.endsWith('.key.json'));
  } catch (error) {
    if (!isErrno(error, 'ENOENT')) throw error;
  }
  if (files.length !== 1) {
    throw new UsageError(
      files.length === 0
        ? `no key: make one with "swoosh keys new --name NAME", or pass --key FILE`
        : `${files.length} keys in ${dir}: choose one with --key FILE, SWOOSH_KEY_FILE or a profile's "key"`,
    );
  }
  return loadPersonKey(join(dir, files[0]!));
}
