/**
 * The deployment's control workflow (`swoosh-control-<task queue>`): a small long-lived entity
 * holding the halt (docs/lifecycle.md#a-halt-that-holds). The gateway sets it on pause-all,
 * lifts it on resume-all and reads it when it starts a mission, so a mission started while halted
 * starts PAUSED. It keeps the signed commands as they came and judges none of them: every mission
 * verifies a halt's signatures itself, and the gateway verifies them again before it shows one.
 */
import {
  allHandlersFinished,
  condition,
  continueAsNew,
  setHandler,
  upsertMemo,
  workflowInfo,
} from '@temporalio/workflow';
import { HALT_MEMO, haltQuery, liftHaltUpdate, setHaltUpdate } from '../schemas/control-messages';
import { HaltState, SignedOwnerCommand } from '../schemas/owner-controls';

/** Updates handled before continuing as new: the state is two commands, the history is not. */
const UPDATES_PER_RUN = 500;

export async function controlWorkflow(input: HaltState = { halt: null, lifted: null }): Promise<void> {
  let state = HaltState.parse(input);
  let handled = 0;
  // Kept in the memo too, so the gateway reads the halt with a describe that needs no worker.
  const keep = (next: HaltState): HaltState => {
    state = next;
    handled++;
    upsertMemo({ [HALT_MEMO]: state });
    return state;
  };
  upsertMemo({ [HALT_MEMO]: state });
  const broadcast = (raw: unknown, action: 'pause' | 'resume'): SignedOwnerCommand => {
    const command = SignedOwnerCommand.parse(raw);
    if (command.command.action !== action || command.mission_id !== null)
      throw new Error(`expected a ${action} for every mission, got a ${command.command.action}`);
    return command;
  };
  setHandler(haltQuery, () => state);
  setHandler(setHaltUpdate, (pause) => Promise.resolve(keep({ ...state, halt: pause })), {
    validator: (pause) => void broadcast(pause, 'pause'),
  });
  setHandler(liftHaltUpdate, (resume) => Promise.resolve(keep({ halt: null, lifted: resume })), {
    validator: (resume) => void broadcast(resume, 'resume'),
  });
  await condition(() => handled >= UPDATES_PER_RUN || workflowInfo().continueAsNewSuggested);
  await condition(allHandlersFinished);
  await continueAsNew<typeof controlWorkflow>(state);
}
