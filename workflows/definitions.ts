/**
 * Names of every signal, query and update SWOOSH workflows expose. The gateway imports this
 * module without pulling in workflow code, so the names live in exactly one place.
 */
import { defineQuery } from '@temporalio/workflow';
import type { MissionView } from '../schemas/mission';

export const stateQuery = defineQuery<MissionView>('state');
