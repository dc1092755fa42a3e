/** The people commands of `swoosh`: keys, missions, approvals, votes, proposals and owner controls. */
import { UsageError } from '../usage';
import type { CliIo } from './context';
import { keysNew } from './keys';
import { missions } from './missions';
import { owner } from './owner';
import { approveCommand, controlCommand, proposeCommand, voteCommand } from './steer';

export type { CliIo } from './context';

export const PEOPLE_USAGE = `People (talk to a gateway):
  keys new --name NAME [--out FILE]
                                   A person's ed25519 key (mode 0600); prints its public key and the
                                   mission config that registers it.
  missions start --objective TEXT --spec URI [--id UUID] [--priority P0|P1|P2]
                 [--config FILE] [--approver ed25519:…|me]... [--auto-approve]
  missions list [--phase PHASE] [--priority P] [--page-size N] [--page-token T]
  missions show MISSION
  missions watch MISSION [--count N] [--last-event-id ID]
                                   The mission's accepted transitions as they happen.
  approve MISSION [--reject] [--wait] [--retries N] [--head HASH] [--evidence URI]...
                                   Sign and send an approval of the current beat.
  vote MISSION [--wait]            Sign and send your council vote for the elected member set.
  propose MISSION TRANSITION [--inputs FILE] [--wait] [--retries N] [--head HASH]
  pause MISSION --reason TEXT      Pause one mission (resume: the same with resume).
  owner pause-all|resume-all --reason TEXT [--command-id ID] [--out FILE]
  owner reroute (--task-queue QUEUE | --own-queue) --reason TEXT [--command-id ID] [--out FILE]
  owner latency-budgets [--short S] [--io S] [--agent S] --reason TEXT [--command-id ID] [--out FILE]
                                   Signed with your owner key and sent (or, with --out, written
                                   for other owners of a quorum to cosign).
  owner cosign FILE | owner send FILE
                                   Add your signature to a signed draft; send it.
  owner status                     Whether the deployment is halted, by whom and why.

  Every people command takes --json, --profile NAME, --url URL, --token TOKEN, --key FILE,
  --actor NAME (your token's name, for owner commands).
  --wait waits for a closed window, for the phase that enables the transition, or for an
  election, instead of exiting 3 (at most 15 minutes).`;

export const PEOPLE_ENV = `  SWOOSH_GATEWAY_URL, SWOOSH_TOKEN, SWOOSH_KEY_FILE, SWOOSH_ACTOR, SWOOSH_PROFILE
                                   Gateway, bearer token, person key, your name and profile (flags win).
  SWOOSH_CONFIG_FILE               Profiles file (default ~/.config/swoosh/config.json).`;

const GROUPS = new Set(['missions', 'approve', 'vote', 'propose', 'pause', 'resume', 'owner']);

/** True when `group` is a people command; `keys new` is routed by the caller. */
export function isPeopleCommand(group: string | undefined): boolean {
  return group !== undefined && GROUPS.has(group);
}

export async function runPeople(argv: string[], io: CliIo): Promise<number> {
  const [group, ...rest] = argv;
  switch (group) {
    case 'keys':
      return keysNew(rest.slice(1), io);
    case 'missions':
      return missions(rest[0], rest.slice(1), io);
    case 'approve':
      return approveCommand(rest, io);
    case 'vote':
      return voteCommand(rest, io);
    case 'propose':
      return proposeCommand(rest, io);
    case 'pause':
    case 'resume':
      return controlCommand(group, rest, io);
    case 'owner':
      return owner(rest[0], rest.slice(1), io);
    default:
      throw new UsageError(`unknown command "${argv.join(' ')}"`);
  }
}
