/**
 * The three PROJECT_LIFECYCLE regions (docs/design.md#the-statechart) as concurrent coroutines inside the mission
 * workflow. Each is driven by its region's phase in the state document rather than by a program
 * counter, so after continue-as-new (or an outside proposal that moved the region, such as
 * ROLLBACK_INDEX or RE_ELECT) it simply carries on from wherever the document says it is.
 */
import { condition, patched, sleep } from '@temporalio/workflow';
import type { MissionPrompt } from '../../schemas/mission';
import { backoffMs } from '../statechart';
import { clipReason, degrade, failedForGood, recovered, retryLater } from './compensation';
import { quorumOf } from './council-votes';
import type { MissionEngine } from './engine';
import { councilMembers } from './machine-config';

const waitFor = (m: MissionEngine, ok: () => boolean): Promise<void> => condition(() => ok() || m.terminated);

/**
 * Ingestion: DISCOVER → FETCH → VALIDATE → INDEX → READY, VALIDATE → QUARANTINED on a breach. A
 * step whose activity fails for good is compensated (docs/design.md#compensation): a failed fetch
 * has nothing to undo and is fetched again; a failed validation or index rolls the content back
 * (ROLLBACK_INDEX) and ingests again from discovery; either way the mission is DEGRADED until
 * ingestion is READY again.
 */
export async function runIngestion(m: MissionEngine, prompt: MissionPrompt): Promise<void> {
  let attempt = 0;
  let failures = 0;
  const still = (phase: string) => () => m.state.ingestion.phase === phase && m.forwardAllowed();
  const compensate = async (reason: string, rollback: boolean): Promise<void> => {
    failures++;
    if (rollback) {
      const rolled = await m.take('Ingestion_RollbackIndex', {
        reason: clipReason(`${reason}; content discarded, ingesting again from discovery`),
      });
      reason = rolled.accepted ? `${reason}; rolled back (ROLLBACK_INDEX)` : reason;
    }
    await degrade(m, `ingestion: ${reason}`, 'ingestion');
    await retryLater(m, failures);
  };
  while (!m.terminated) {
    const phase = m.state.ingestion.phase;
    if (phase === 'READY') {
      failures = 0;
      if (m.faults.has('ingestion'))
        await recovered(
          m,
          'ingestion',
          `ingestion READY at index version ${m.state.ingestion.index_version}`,
        );
      await waitFor(m, () => m.state.ingestion.phase !== 'READY');
      continue;
    }
    if (phase === 'QUARANTINED') {
      // Sticky: only once the mission quarantine is released (or a policy update cleared it) does
      // the orchestrator roll the index back and ingest again.
      await waitFor(m, () => m.state.ingestion.phase !== 'QUARANTINED' || m.state.policy.phase === 'CLEAR');
      if (m.state.ingestion.phase === 'QUARANTINED' && m.state.policy.phase === 'CLEAR')
        await m.take('Ingestion_RollbackIndex', { reason: 'quarantine lifted: re-ingest from discovery' });
      continue;
    }
    await waitFor(m, () => m.forwardAllowed());
    if (m.terminated) return;
    let ok = false;
    if (phase === 'DISCOVER') {
      const sources = [...new Set([prompt.originatingSpec, ...m.config.sources])];
      ok = (await m.take('Ingestion_Fetch', { sources })).accepted;
    } else if (phase === 'FETCH') {
      let failed: string | null = null;
      ok = await m.takeUntil(
        'Ingestion_Validate',
        async () => {
          let fetched;
          try {
            fetched = await m.ioCall('fetch sources into the content store').fetchSources({
              mission: m.missionId,
              objective: prompt.objective,
              sources: [...m.state.ingestion.sources],
            });
          } catch (error) {
            failed = failedForGood(error);
            return { inputs: {} };
          }
          m.sources = fetched.sources;
          return { inputs: { content_hash: fetched.content_hash } };
        },
        () => failed === null && still('FETCH')(),
      );
      if (failed !== null) {
        // Nothing was fetched, so nothing to roll back (nor may FETCH roll back): fetch again later.
        await compensate(failed, false);
        continue;
      }
    } else if (phase === 'VALIDATE') {
      let v;
      try {
        v = await m.ioCall('validate sources under the SHHH policy').validateSources({
          mission: m.missionId,
          sources: m.sources,
        });
      } catch (error) {
        await compensate(failedForGood(error), true);
        continue;
      }
      if (v.passed) {
        ok = (
          await m.take(
            'Ingestion_Index',
            { report_hash: v.report_hash, passed: true, violations: [] },
            { io: { policy: v.policy } },
          )
        ).accepted;
      } else {
        const rationale = v.policy.rationale ?? v.violations[0] ?? 'policy breach';
        ok = (
          await m.take('Ingestion_Quarantine', {
            report_hash: v.report_hash,
            violations: v.violations.length > 0 ? v.violations : [rationale],
            rationale,
          })
        ).accepted;
        // A quarantine in a region reaches the mission: the POLICY region quarantines it too.
        if (m.state.policy.phase === 'CLEAR') {
          await m.take(
            'Policy_Quarantine',
            { rationale, breaches: v.violations.length > 0 ? v.violations : [rationale] },
            { io: { policy: v.policy } },
          );
        }
      }
    } else if (phase === 'INDEX') {
      let failed: string | null = null;
      ok = await m.takeUntil(
        'Ingestion_Ready',
        async () => {
          try {
            return {
              inputs: await m.ioCall('build the content index').buildIndex({
                mission: m.missionId,
                sources: m.sources,
              }),
            };
          } catch (error) {
            failed = failedForGood(error);
            return { inputs: {} };
          }
        },
        () => failed === null && still('INDEX')(),
      );
      if (failed !== null) {
        await compensate(failed, true);
        continue;
      }
    }
    attempt = ok ? 0 : attempt + 1;
    if (!ok) await sleep(backoffMs(m.machine.schedule, Math.min(attempt, 16)));
  }
}

/** The patch that made a lost quorum put the mission into RECOVERY by itself (and back out). */
export const RECOVERY_PATCH = 'swoosh-recovery-v1';

/**
 * Council: PLAN_ROLES → ELECT (signed votes to a quorum certificate) → TOOLING_SYNC → READY.
 * During an automatic RECOVERY (a lost quorum) the election goes on while forward work holds; a new
 * valid certificate ends the recovery. A vote signature or tool probe that fails for good leaves
 * nothing to undo (EJECT and RE_ELECT are for members, not for the orchestrator's own calls): the
 * mission is DEGRADED and the step tried again until the council is READY.
 */
export async function runCouncil(m: MissionEngine): Promise<void> {
  let attempt = 0;
  let failures = 0;
  const electing = () => m.state.council.phase === 'ELECT' && m.recovery.recovering();
  const compensate = async (reason: string): Promise<void> => {
    failures++;
    await degrade(m, `council: ${reason}`, 'council');
    await retryLater(m, failures);
  };
  while (!m.terminated) {
    const phase = m.state.council.phase;
    if (phase === 'READY') {
      failures = 0;
      if (m.faults.has('council')) await recovered(m, 'council', 'council READY with its tools in sync');
      await waitFor(m, () => m.state.council.phase !== 'READY');
      continue;
    }
    await waitFor(m, () => m.forwardAllowed() || electing());
    if (m.terminated) return;
    let ok = false;
    if (phase === 'PLAN_ROLES') {
      ok = (
        await m.take('Council_Elect', { roles: m.config.council.roles, members: councilMembers(m.config) })
      ).accepted;
    } else if (phase === 'ELECT') {
      const setHash = m.state.council.council_set_hash;
      if (setHash === null) {
        await sleep(1000);
        continue;
      }
      const own = m.state.council.members.find((x) => x.key === m.config.orchestratorKey);
      if (own && !m.votes.forSet(setHash).some((v) => v.member === own.id)) {
        let vote;
        try {
          vote = await m.shortCall('sign the orchestrator council vote').signCouncilVote({
            mission: m.missionId,
            member: own.id,
            council_set_hash: setHash,
          });
        } catch (error) {
          await compensate(failedForGood(error));
          continue;
        }
        m.votes.record(vote);
      }
      await waitFor(
        m,
        () =>
          m.votes.forSet(setHash).length >= quorumOf(m.state, m.machine) ||
          m.state.council.council_set_hash !== setHash,
      );
      if (m.state.council.council_set_hash !== setHash || m.terminated) continue;
      if (electing()) {
        ok = await m.recovery.leave(setHash);
        attempt = ok ? 0 : attempt + 1;
        if (!ok) await sleep(backoffMs(m.machine.schedule, Math.min(attempt, 16)));
        continue;
      }
      await waitFor(m, () => m.forwardAllowed());
      ok = (await m.take('Council_QuorumCert', { council_set_hash: setHash, votes: m.votes.forSet(setHash) }))
        .accepted;
    } else if (phase === 'TOOLING_SYNC') {
      let status;
      try {
        status = await m.ioCall('probe tool servers').toolStatus();
      } catch (error) {
        await compensate(failedForGood(error));
        continue;
      }
      ok = (await m.take('Council_ToolingReady', { pins: status.pins }, { io: { tools: status.tools } }))
        .accepted;
    }
    attempt = ok ? 0 : attempt + 1;
    if (!ok) await sleep(backoffMs(m.machine.schedule, Math.min(attempt, 16)));
  }
}

/**
 * RECOVERY after a lost quorum: when a transition voids the council's certificate (EJECT,
 * RE_ELECT) while the mission runs, the orchestrator takes Control_Recover itself, so new work
 * holds while the council re-elects; `runCouncil` takes it out again on a new certificate.
 */
export async function runRecovery(m: MissionEngine): Promise<void> {
  while (!m.terminated) {
    await waitFor(m, () => m.recovery.due());
    if (m.terminated) return;
    // Missions recorded before the patch held a voided certificate without entering RECOVERY.
    if (!patched(RECOVERY_PATCH)) {
      m.recovery.quorumLost = null;
      continue;
    }
    // A refused Control_Recover (the mission ended meanwhile) must not spin this loop.
    if (!(await m.recovery.enter()) && m.recovery.due()) m.recovery.quorumLost = null;
  }
}

/**
 * Environment: ALLOCATE → PROVISION → HEALTHCHECK → READY | DEGRADED; DEPROVISION on failure:
 * after three failed health checks in a row, and when provisioning or health-checking fails for
 * good (docs/design.md#compensation), which also makes the mission DEGRADED until the environment
 * is READY again. A release that fails for good leaves the region where it is, DEGRADED, to try
 * again: its assets are not recorded as released while they may still be there.
 */
export async function runEnvironment(m: MissionEngine): Promise<void> {
  let attempt = 0;
  let degradedChecks = 0;
  let failures = 0;
  const compensate = async (reason: string): Promise<void> => {
    failures++;
    degradedChecks = 0;
    try {
      await m.ioCall('deprovision workspaces').deprovisionWorkspace({ mission: m.missionId });
    } catch (error) {
      reason = `${reason}; releasing its workspaces failed too: ${failedForGood(error)}`;
      await degrade(m, `environment: ${reason}`, 'environment');
      await retryLater(m, failures);
      return;
    }
    const released = await m.take('Environment_Deprovision', {
      reason: clipReason(`${reason}; workspaces released, allocating again`),
    });
    if (released.accepted) reason = `${reason}; released its workspaces (DEPROVISION)`;
    await degrade(m, `environment: ${reason}`, 'environment');
    await retryLater(m, failures);
  };
  while (!m.terminated) {
    const phase = m.state.environment.phase;
    if (phase === 'READY') {
      failures = 0;
      if (m.faults.has('environment'))
        await recovered(m, 'environment', 'environment READY: every health check passed');
      await waitFor(m, () => m.state.environment.phase !== 'READY');
      continue;
    }
    await waitFor(m, () => m.forwardAllowed() || (phase === 'DEGRADED' && m.state.policy.phase === 'CLEAR'));
    if (m.terminated) return;
    let ok = false;
    if (phase === 'ALLOCATE') {
      ok = (
        await m.take('Environment_Provision', {
          allocations: [{ resource: 'workspace', amount: m.config.tasksPerBeat }],
        })
      ).accepted;
    } else if (phase === 'PROVISION') {
      let assets;
      try {
        assets = await m.ioCall('provision workspaces').provisionWorkspace({
          mission: m.missionId,
          allocations: m.state.environment.allocations.map((a) => ({ ...a })),
        });
      } catch (error) {
        await compensate(failedForGood(error));
        continue;
      }
      ok = (await m.take('Environment_Healthcheck', { assets })).accepted;
    } else if (phase === 'HEALTHCHECK' || phase === 'DEGRADED') {
      let checks;
      try {
        checks = await m.ioCall('health-check workspaces').healthCheck({
          assets: m.state.environment.assets.map((a) => ({ ...a })),
        });
      } catch (error) {
        await compensate(failedForGood(error));
        continue;
      }
      if (checks.every((c) => c.ok)) {
        degradedChecks = 0;
        ok = (await m.take('Environment_Ready', { checks })).accepted;
      } else if (phase === 'HEALTHCHECK') {
        ok = (await m.take('Environment_Degrade', { checks })).accepted;
      } else if (++degradedChecks >= 3) {
        // Compensation: release what was provisioned and start again from allocation.
        try {
          await m.ioCall('deprovision workspaces').deprovisionWorkspace({ mission: m.missionId });
        } catch (error) {
          failures++;
          const reason = `health checks kept failing and releasing the workspaces failed: ${failedForGood(error)}`;
          await degrade(m, `environment: ${reason}`, 'environment');
          await retryLater(m, failures);
          continue;
        }
        ok = (await m.take('Environment_Deprovision', { reason: 'health checks kept failing' })).accepted;
        degradedChecks = 0;
      }
    }
    attempt = ok ? 0 : attempt + 1;
    if (!ok) await sleep(backoffMs(m.machine.schedule, Math.min(attempt, 16)));
  }
}
