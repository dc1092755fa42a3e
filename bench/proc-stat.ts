/**
 * Processes as Linux reports them in /proc/<pid>/stat, for benches that look at the processes they
 * started (the dev server, a gateway): none where there is no /proc.
 */
import { readdirSync, readFileSync } from 'node:fs';

export interface ProcStat {
  pid: number;
  ppid: number;
  /** The command name, as in `(temporal)`. */
  command: string;
  /** User and system CPU time, in clock ticks (1/100 s on Linux). */
  cpuTicks: number;
}

/** Linux reports process times in clock ticks of 1/100 s. */
export const TICK_MS = 10;

export function procStats(): ProcStat[] {
  let entries: string[];
  try {
    entries = readdirSync('/proc').filter((d) => /^\d+$/.test(d));
  } catch {
    return [];
  }
  return entries.flatMap((entry) => {
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // The command name may hold spaces; the fields after it are state, ppid, ..., utime, stime.
      const close = stat.lastIndexOf(')');
      const fields = stat.slice(close + 2).split(' ');
      return [
        {
          pid: Number(entry),
          ppid: Number(fields[1]),
          command: stat.slice(stat.indexOf('(') + 1, close),
          cpuTicks: Number(fields[11]) + Number(fields[12]),
        },
      ];
    } catch {
      // The process ended between the listing and the read.
      return [];
    }
  });
}

/** The whole machine's CPU time since boot, in ticks summed over its cores: busy, idle, waiting on I/O. */
export interface MachineCpu {
  busy: number;
  idle: number;
  iowait: number;
}

export function machineCpu(): MachineCpu | undefined {
  try {
    // "cpu  user nice system idle iowait irq softirq steal ..."
    const line = readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
    const field = (i: number): number => Number(line.trim().split(/\s+/)[i + 1] ?? 0);
    return {
      busy: [0, 1, 2, 5, 6, 7].reduce((sum, i) => sum + field(i), 0),
      idle: field(3),
      iowait: field(4),
    };
  } catch {
    return undefined;
  }
}
