/**
 * Registers SWOOSH's search attributes on the worker's namespace at start. A Temporal cluster
 * refuses a workflow start that sets a search attribute it does not know, so without this a fresh
 * cluster (anything `npm run dev` did not launch) would refuse every mission.
 *
 * Idempotent: attributes already there with their type are left alone, so every worker of a
 * deployment may run it at every start. One registered with another type is an error for an
 * operator to resolve; it is never overwritten.
 */
import { type Connection, isGrpcServiceError } from '@temporalio/client';
import proto from '@temporalio/proto';
import type { SearchAttributeType } from '@temporalio/common';
import { swooshSearchAttributes } from '../schemas/search-attributes';

const { IndexedValueType } = proto.temporal.api.enums.v1;
/** gRPC's code for a name that is taken; the SDK re-exports no status table. */
const GRPC_ALREADY_EXISTS = 6;

const indexedType: Record<SearchAttributeType, proto.temporal.api.enums.v1.IndexedValueType> = {
  TEXT: IndexedValueType.INDEXED_VALUE_TYPE_TEXT,
  KEYWORD: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
  INT: IndexedValueType.INDEXED_VALUE_TYPE_INT,
  DOUBLE: IndexedValueType.INDEXED_VALUE_TYPE_DOUBLE,
  BOOL: IndexedValueType.INDEXED_VALUE_TYPE_BOOL,
  DATETIME: IndexedValueType.INDEXED_VALUE_TYPE_DATETIME,
  KEYWORD_LIST: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD_LIST,
};

/** Names and types SWOOSH needs, as the operator service states them. */
function wanted(): Map<string, proto.temporal.api.enums.v1.IndexedValueType> {
  return new Map(swooshSearchAttributes.map((key) => [key.name, indexedType[key.type]]));
}

async function registered(
  connection: Connection,
  namespace: string,
): Promise<Map<string, proto.temporal.api.enums.v1.IndexedValueType>> {
  const response = await connection.operatorService.listSearchAttributes({ namespace });
  return new Map(Object.entries(response.customAttributes ?? {}));
}

function typeName(type: proto.temporal.api.enums.v1.IndexedValueType | undefined): string {
  return type === undefined ? 'none' : (IndexedValueType[type] ?? String(type));
}

/**
 * Adds the SWOOSH search attributes missing from the namespace and returns their names (empty
 * when all were there). Throws, naming the attribute, when one exists with another type.
 */
export async function ensureSearchAttributes(connection: Connection, namespace: string): Promise<string[]> {
  const need = wanted();
  const have = await registered(connection, namespace);
  const missing = new Map<string, proto.temporal.api.enums.v1.IndexedValueType>();
  for (const [name, type] of need) {
    if (!have.has(name)) missing.set(name, type);
    else if (have.get(name) !== type) {
      throw new Error(
        `search attribute ${name} is registered on namespace ${namespace} as ${typeName(have.get(name))}, but SWOOSH writes it as ${typeName(type)}; remove or rename it before starting the worker`,
      );
    }
  }
  if (missing.size === 0) return [];
  try {
    await connection.operatorService.addSearchAttributes({
      namespace,
      searchAttributes: Object.fromEntries(missing),
    });
  } catch (error) {
    // Another worker starting at the same moment may have added them first; what counts is the end state.
    if (!(isGrpcServiceError(error) && (error.code as number) === GRPC_ALREADY_EXISTS)) {
      throw new Error(
        `could not register search attributes ${[...missing.keys()].join(', ')} on namespace ${namespace}: ${(error as Error).message}`,
        { cause: error },
      );
    }
    const now = await registered(connection, namespace);
    const absent = [...missing].filter(([name, type]) => now.get(name) !== type).map(([name]) => name);
    if (absent.length > 0) {
      throw new Error(
        `search attributes ${absent.join(', ')} are still not registered on namespace ${namespace}`,
        {
          cause: error,
        },
      );
    }
  }
  return [...missing.keys()];
}
