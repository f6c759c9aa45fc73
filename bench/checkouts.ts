import path from 'node:path';

/**
 * The checkouts an in-process bench compares: this one, and first the one the environment
 * variable `baseVar` names (a built clone of an earlier commit), each with the name it prints.
 */
export function checkoutsToCompare(baseVar: string): Array<[name: string, checkout: string]> {
  const base = process.env[baseVar];
  const here: [string, string] = ['this checkout', path.resolve(import.meta.dirname, '..')];
  return base ? [[`base (${base})`, path.resolve(base)], here] : [here];
}
