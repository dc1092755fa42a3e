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
