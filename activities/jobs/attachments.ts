/**
 * A spec's attachments read in where the run is spawned (schemas/agent-job.ts `AgentAttachments`):
 * the evidence it names, from the content store, becomes `documents`, `artifacts` and `artifact`
 * in the agent's inputs. The history keeps the checksums only.
 */
import { type AgentJobSpec, type EvidenceRef, MAX_RESOLVED_INPUTS_BYTES } from '../../schemas/agent-job';
import { EvidenceNotFoundError, type ContentStore } from '../../ledger/evidence-store';

/** An attachment cannot be handed over; nothing was started and trying again will not help. */
export class AttachmentError extends Error {}

export async function withAttachments(spec: AgentJobSpec, content?: ContentStore): Promise<AgentJobSpec> {
  const { attachments } = spec;
  if (attachments === undefined) return spec;
  if (content === undefined)
    throw new AttachmentError('this worker has no content store to read attachments from');
  const read = async (ref: EvidenceRef) => {
    try {
      return { uri: ref.uri, text: (await content.get(ref.checksum)).toString('utf8') };
    } catch (error) {
      if (error instanceof EvidenceNotFoundError)
        throw new AttachmentError(`attachment ${ref.uri} (${ref.checksum}) is not in the content store`);
      throw error;
    }
  };
  const documents = await Promise.all(attachments.documents.map(read));
  const artifacts = await Promise.all(attachments.artifacts.map(read));
  const inputs = {
    ...spec.inputs,
    ...(documents.length > 0 && { documents }),
    ...(artifacts.length > 0 && { artifacts, artifact: artifacts[0]! }),
  };
  const bytes = Buffer.byteLength(JSON.stringify(inputs));
  if (bytes > MAX_RESOLVED_INPUTS_BYTES)
    throw new AttachmentError(
      `inputs with their attachments are ${bytes} bytes of JSON; an agent takes at most ${MAX_RESOLVED_INPUTS_BYTES}`,
    );
  return { ...spec, inputs };
}
