// The import boundaries between the top-level folders (docs/design.md, "Layers"). Every relative
// import is resolved to the folder it lands in and checked against the importing folder's list,
// so an arrow that points upward fails the lint instead of waiting for a reviewer to notice.
import path from 'node:path';

/** Folder → the folders it may import from. Folders not listed here (tests, bench) may import anything. */
export const LAYERS = {
  schemas: [],
  host: ['schemas'],
  ledger: ['schemas', 'host'],
  workflows: ['schemas'],
  activities: ['schemas', 'host', 'ledger'],
  api: ['schemas', 'host', 'ledger'],
  cli: ['schemas', 'host', 'ledger', 'api'],
  workers: ['schemas', 'host', 'ledger', 'activities', 'workflows'],
  agents: ['schemas', 'host', 'activities'],
  'temporal-dev': ['schemas', 'host', 'ledger', 'activities', 'workflows', 'workers', 'api'],
};

/**
 * Type-only imports that are Temporal's own idiom and erase at compile time: a workflow types its
 * activity proxies from the activity modules, and a client types a workflow start from the workflow
 * function.
 */
export const TYPE_ONLY = {
  workflows: ['activities'],
  api: ['workflows'],
};

const root = path.resolve(import.meta.dirname, '..');

function folderOf(file) {
  const relative = path.relative(root, file);
  if (relative.startsWith('..')) return null;
  const parts = relative.split(path.sep);
  // A bare folder name (`'../activities'`) is that folder's index; a root file has an extension.
  return parts.length > 1 || !/\.\w+$/.test(parts[0]) ? parts[0] : '(root)';
}

const rule = {
  meta: {
    type: 'problem',
    docs: { description: 'Imports between top-level folders follow the layer table.' },
    schema: [],
  },
  create(context) {
    const from = folderOf(context.filename);
    if (from === null || !(from in LAYERS)) return {};
    const allowed = LAYERS[from];
    function check(node, source, typeOnly) {
      if (typeof source !== 'string' || !source.startsWith('.')) return;
      const to = folderOf(path.resolve(path.dirname(context.filename), source));
      if (to === null || to === from || allowed.includes(to)) return;
      if (typeOnly && (TYPE_ONLY[from] ?? []).includes(to)) return;
      const may = allowed.length > 0 ? allowed.join(', ') : 'no other folder';
      context.report({
        node,
        message: `${from}/ may import from ${may}; '${source}' reaches into ${to}/ (docs/design.md, "Layers").`,
      });
    }
    const typeOnlyDecl = (node) =>
      node.importKind === 'type' ||
      node.exportKind === 'type' ||
      (node.specifiers?.length > 0 &&
        node.specifiers.every((s) => s.importKind === 'type' || s.exportKind === 'type'));
    return {
      ImportDeclaration: (node) => check(node, node.source.value, typeOnlyDecl(node)),
      ExportNamedDeclaration: (node) => node.source && check(node, node.source.value, typeOnlyDecl(node)),
      ExportAllDeclaration: (node) => check(node, node.source.value, node.exportKind === 'type'),
      ImportExpression: (node) => check(node, node.source.value, false),
    };
  },
};

export default { rules: { layers: rule } };
