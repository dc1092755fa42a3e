/**
 * `npm run bench:transitions`: transition throughput and latency, side by side in alternating rounds.
 *
 *  - without `--store`/`--workers`: SWOOSH against raw Temporal (bench/transitions-raw.ts);
 *  - with `--store=postgres` and/or `--workers=<n>`: SWOOSH on the PostgreSQL store and/or on n
 *    worker processes, against the files store and one worker process
 *    (bench/transitions-deployments.ts).
 *
 *   npm run bench:transitions -- [--rounds=3] [--n=100] [--parallel=20,200] [--per-entity=10]
 *   npm run bench:transitions -- --store=postgres --workers=2 [--rounds=3] [--n=100] [--parallel=20]
 */
import { arg } from './transition-load';

const compare = arg('store', '') !== '' || arg('workers', '') !== '';
await (compare ? import('./transitions-deployments') : import('./transitions-raw'));
