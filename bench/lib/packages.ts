import { accessSync, constants } from 'node:fs';
import { delimiter, isAbsolute, join } from 'node:path';

/** A file a benchmark needs (an absolute path, or a command looked up on PATH) and the Debian package that installs it. */
export type Need = readonly [file: string, debianPackage: string];

function present(file: string): boolean {
  const candidates = isAbsolute(file) ? [file] : (process.env.PATH ?? '').split(delimiter).filter((d) => d !== '').map((d) => join(d, file));
  return candidates.some((path) => {
    try {
      accessSync(path, constants.R_OK);
      return true;
    } catch {
      return false;
    }
  });
}

/** The Debian packages to install for the needs that are not met (empty: all there). */
export function missingPackages(needs: readonly Need[]): string[] {
  return [...new Set(needs.filter(([file]) => !present(file)).map(([, pkg]) => pkg))];
}
