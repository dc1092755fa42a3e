/**
 * Search attributes SWOOSH writes on its workflows, so an operator can find a mission in the
 * Temporal Web UI by id, phase, region phase or priority. The dev-server launcher registers
 * exactly these.
 */
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

export const MissionIdKey = defineSearchAttributeKey('SwooshMissionId', SearchAttributeType.KEYWORD);
export const PhaseKey = defineSearchAttributeKey('SwooshPhase', SearchAttributeType.KEYWORD);
export const PriorityKey = defineSearchAttributeKey('SwooshPriority', SearchAttributeType.KEYWORD);
export const IngestionPhaseKey = defineSearchAttributeKey(
  'SwooshIngestionPhase',
  SearchAttributeType.KEYWORD,
);
export const CouncilPhaseKey = defineSearchAttributeKey('SwooshCouncilPhase', SearchAttributeType.KEYWORD);
export const EnvironmentPhaseKey = defineSearchAttributeKey(
  'SwooshEnvironmentPhase',
  SearchAttributeType.KEYWORD,
);
export const ExecutionPhaseKey = defineSearchAttributeKey(
  'SwooshExecutionPhase',
  SearchAttributeType.KEYWORD,
);
export const BeatKey = defineSearchAttributeKey('SwooshBeat', SearchAttributeType.INT);

export const swooshSearchAttributes = [
  MissionIdKey,
  PhaseKey,
  PriorityKey,
  IngestionPhaseKey,
  CouncilPhaseKey,
  EnvironmentPhaseKey,
  ExecutionPhaseKey,
  BeatKey,
];
