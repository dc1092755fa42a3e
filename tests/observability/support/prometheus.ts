/**
 * Reads Prometheus text exposition format (version 0.0.4) into samples and HELP/TYPE lines, so
 * tests can assert on scraped values by metric name and labels.
 */
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface Exposition {
  samples: Sample[];
  help: Map<string, string>;
  type: Map<string, string>;
}

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\d+)?$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

export function parseExposition(text: string): Exposition {
  const samples: Sample[] = [];
  const help = new Map<string, string>();
  const type = new Map<string, string>();
  for (const line of text.split('\n')) {
    if (line.startsWith('# HELP ')) {
      const [name, ...rest] = line.slice(7).split(' ');
      help.set(name!, rest.join(' '));
    } else if (line.startsWith('# TYPE ')) {
      const [name, kind] = line.slice(7).split(' ');
      type.set(name!, kind!);
    } else if (line.trim() !== '' && !line.startsWith('#')) {
      const match = SAMPLE.exec(line);
      if (!match) throw new Error(`not a Prometheus sample line: ${line}`);
      const labels: Record<string, string> = {};
      for (const l of (match[2] ?? '').matchAll(LABEL)) labels[l[1]!] = l[2]!.replace(/\\(.)/g, '$1');
      samples.push({ name: match[1]!, labels, value: Number(match[3]) });
    }
  }
  return { samples, help, type };
}

/** Sum of the samples of `name` whose labels include every pair in `labels`. */
export function valueOf(exposition: Exposition, name: string, labels: Record<string, string> = {}): number {
  return exposition.samples
    .filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
    .reduce((sum, s) => sum + s.value, 0);
}

/** Every sample of the named metric families, for comparing two scrapes. */
export function samplesOf(exposition: Exposition, prefix: string): string[] {
  return exposition.samples
    .filter((s) => s.name.startsWith(prefix))
    .map((s) => `${s.name}${JSON.stringify(Object.entries(s.labels).sort())} ${s.value}`)
    .sort();
}
