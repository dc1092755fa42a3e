/** The licence activity: the LICENSE_CHECK guard's input, from the process's licence checker. */
import type { LicenceVerdict } from '../schemas/licence';
import type { LicenceChecker } from '../host/licence/checker';

export interface LicenceActivityDeps {
  licence: LicenceChecker;
}

export function createLicenceActivities({ licence }: LicenceActivityDeps) {
  return {
    /** The LICENSE_CHECK guard input; cached, so calling it on every beat is cheap. */
    checkLicence: (): Promise<LicenceVerdict> => licence.check(),
  };
}
