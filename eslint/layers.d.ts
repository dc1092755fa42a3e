import type { ESLint } from 'eslint';

export const LAYERS: Record<string, string[]>;
export const TYPE_ONLY: Record<string, string[]>;
declare const plugin: ESLint.Plugin;
export default plugin;
