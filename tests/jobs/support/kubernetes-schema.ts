/**
 * Checks Kubernetes objects against the real Kubernetes API schema, without a cluster:
 *
 * - `kubernetes-models` ships validators generated from the Kubernetes OpenAPI spec: types,
 *   required fields, enums and formats. That spec does not forbid unknown fields, so:
 * - `@kubernetes/client-node` serialises an object through its generated model map (from the
 *   same spec) before sending it, which drops every field the API does not define. An object
 *   that survives that serialisation unchanged has no unknown fields — and is exactly what the
 *   runner sends.
 */
import { ObjectSerializer } from '@kubernetes/client-node/dist/gen/models/ObjectSerializer.js';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { Job } from 'kubernetes-models/batch/v1/Job';
import { Role } from 'kubernetes-models/rbac.authorization.k8s.io/v1/Role';
import { RoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1/RoleBinding';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { Namespace } from 'kubernetes-models/v1/Namespace';
import { Service } from 'kubernetes-models/v1/Service';
import { ServiceAccount } from 'kubernetes-models/v1/ServiceAccount';

interface Validatable {
  validate(): void;
}

/** apiVersion/kind → the generated validator and the client's model name. */
const kinds: Record<string, { model: (data: never) => Validatable; type: string }> = {
  'batch/v1/Job': { model: (d) => new Job(d), type: 'V1Job' },
  'apps/v1/Deployment': { model: (d) => new Deployment(d), type: 'V1Deployment' },
  'v1/Namespace': { model: (d) => new Namespace(d), type: 'V1Namespace' },
  'v1/ServiceAccount': { model: (d) => new ServiceAccount(d), type: 'V1ServiceAccount' },
  'v1/Service': { model: (d) => new Service(d), type: 'V1Service' },
  'v1/ConfigMap': { model: (d) => new ConfigMap(d), type: 'V1ConfigMap' },
  'rbac.authorization.k8s.io/v1/Role': { model: (d) => new Role(d), type: 'V1Role' },
  'rbac.authorization.k8s.io/v1/RoleBinding': { model: (d) => new RoleBinding(d), type: 'V1RoleBinding' },
};

export function isBuiltInKind(object: { apiVersion?: string; kind?: string }): boolean {
  return `${object.apiVersion}/${object.kind}` in kinds;
}

/** Throws with the schema's own message if `object` is not a valid instance of its kind. */
export function validateAgainstSchema(object: { apiVersion?: string; kind?: string }): void {
  const kind = kinds[`${object.apiVersion}/${object.kind}`];
  if (!kind) throw new Error(`no schema for ${object.apiVersion} ${object.kind}`);
  kind.model(structuredClone(object) as never).validate();
}

/** The object as the Kubernetes client sends it: fields the API does not define are gone. */
export function asSentByClient(object: { apiVersion?: string; kind?: string }): unknown {
  const kind = kinds[`${object.apiVersion}/${object.kind}`];
  if (!kind) throw new Error(`no model for ${object.apiVersion} ${object.kind}`);
  return JSON.parse(JSON.stringify(ObjectSerializer.serialize(object, kind.type, ''))) as unknown;
}
