/**
 * The example indexer agent (docs/agents.md#the-example-agents): indexes the documents in its
 * inputs (or, without any, the mission's objective) and writes the DocumentIndex to
 * `<SWOOSH_WORKDIR>/index.json` and stdout.
 */
import { IndexerInputs } from '../schemas/example-agents';
import { readInputs, runAgent, writeResult } from './agent-io';
import { indexDocuments } from './index-documents';

runAgent('indexer', async () => {
  const inputs = readInputs(IndexerInputs);
  const mission = process.env.SWOOSH_MISSION_ID ?? 'unknown';
  const documents = inputs.documents ?? [
    { uri: `swoosh://${mission}/objective`, text: inputs.objective ?? '' },
  ];
  await writeResult('index.json', indexDocuments(mission, documents, inputs.topTerms));
});
