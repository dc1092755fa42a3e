/**
 * A mission workflow whose every workflow task fails with a plain Error, as a bug or a bad deploy
 * would make it: Temporal retries such a task forever, so the mission neither runs nor ends. The
 * gateway must say so at once, and /health must report it.
 */
export function missionWorkflow(): Promise<never> {
  return Promise.reject(new Error('boom: this build cannot run missions'));
}
