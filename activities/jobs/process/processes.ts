/**
 * Process identity and process-group signalling for local runs. A pid alone is not an identity:
 * after a crash the pid in a state file may belong to an unrelated process by now. On Linux a
 * process is named by its pid and its start time from /proc, and a process group's members are
 * found in /proc too, so a restarted worker never signals a stranger.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { constants } from 'node:os';
import type { ProcessIdentity } from './state';

interface ProcStat {
  state: string;
  pgrp: number;
  startTime: string;
}

/** Fields of /proc/<pid>/stat, or undefined when the process (or /proc) does not exist. */
function procStat(pid: number): ProcStat | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // `pid (comm) state ppid pgrp ...`; comm may hold spaces and parentheses, so split after the last ')'.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return { state: fields[0] ?? '', pgrp: Number(fields[2]), startTime: fields[19] ?? '' };
}

const hasProc = ((): boolean => {
  try {
    readdirSync('/proc/self');
    return true;
  } catch {
    return false;
  }
})();

export function identify(pid: number): ProcessIdentity {
  const startTime = procStat(pid)?.startTime;
  return startTime ? { pid, startTime } : { pid };
}

/** Whether the process is alive and is the one identified (zombies count as gone: they run nothing). */
export function isRunning(process_: ProcessIdentity): boolean {
  if (hasProc) {
    const stat = procStat(process_.pid);
    if (!stat || stat.state === 'Z') return false;
    return process_.startTime === undefined || stat.startTime === process_.startTime;
  }
  try {
    process.kill(process_.pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Live members of the process group an agent leads, including ones that outlived it. If the
 * leader's pid now names a different process, the pid was recycled and no group is ours; and
 * only processes started no earlier than the leader can be its descendants.
 */
export function groupMembers(leader: ProcessIdentity): number[] {
  if (!hasProc) return isRunning(leader) ? [leader.pid] : [];
  const current = procStat(leader.pid);
  if (current && leader.startTime !== undefined && current.startTime !== leader.startTime) return [];
  const members: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = procStat(Number(entry));
    if (!stat || stat.state === 'Z' || stat.pgrp !== leader.pid) continue;
    if (leader.startTime !== undefined && BigInt(stat.startTime) < BigInt(leader.startTime)) continue;
    members.push(Number(entry));
  }
  return members;
}

/** Signals the agent's whole process group if any member still runs; returns whether it did. */
export function signalGroup(leader: ProcessIdentity, signal: NodeJS.Signals): boolean {
  if (groupMembers(leader).length === 0) return false;
  try {
    process.kill(-leader.pid, signal);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ESRCH') return false;
    throw error;
  }
}

export function signalProcess(target: ProcessIdentity, signal: NodeJS.Signals): boolean {
  if (!isRunning(target)) return false;
  try {
    process.kill(target.pid, signal);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ESRCH') return false;
    throw error;
  }
}

/** The exit code a shell (and Kubernetes) reports for death by `signal`: 128 + its number. */
export function exitCodeForSignal(signal: NodeJS.Signals): number {
  return 128 + (constants.signals[signal] ?? 0);
}

/** Polls until `done()` or `timeoutMs` passes; returns whether `done()` became true. */
export async function waitUntil(done: () => boolean, timeoutMs: number, intervalMs = 100): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (done()) return true;
    if (Date.now() >= deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
