/**
 * Container names: Docker's `adjective_surname` style for unnamed containers, and the name
 * index that keeps names unique (names are stored without the leading '/').
 */
import * as crypto from 'node:crypto';
import { NameInUseError } from '../errors';

/** Adjectives for generated names (our own list). */
const ADJECTIVES = [
  'agile',
  'amazing',
  'brave',
  'bright',
  'busy',
  'calm',
  'careful',
  'cheerful',
  'clever',
  'cool',
  'curious',
  'daring',
  'eager',
  'elastic',
  'epic',
  'fearless',
  'festive',
  'focused',
  'friendly',
  'gallant',
  'gentle',
  'happy',
  'hardy',
  'humble',
  'jolly',
  'keen',
  'kind',
  'lively',
  'lucid',
  'merry',
  'modest',
  'nimble',
  'noble',
  'patient',
  'plucky',
  'polite',
  'proud',
  'quick',
  'quiet',
  'radiant',
  'serene',
  'sharp',
  'shiny',
  'silly',
  'steady',
  'sturdy',
  'swift',
  'tender',
  'tidy',
  'upbeat',
  'vivid',
  'witty',
  'zealous',
];

/** Surnames of scientists and engineers (our own list). */
const SURNAMES = [
  'agnesi',
  'babbage',
  'bardeen',
  'bohr',
  'boole',
  'cannon',
  'curie',
  'darwin',
  'dijkstra',
  'einstein',
  'euler',
  'faraday',
  'fermat',
  'fermi',
  'feynman',
  'franklin',
  'galileo',
  'gauss',
  'goodall',
  'hamilton',
  'hawking',
  'hertz',
  'hopper',
  'hypatia',
  'johnson',
  'kepler',
  'knuth',
  'lamarr',
  'lamport',
  'leavitt',
  'liskov',
  'lovelace',
  'maxwell',
  'meitner',
  'mendel',
  'newton',
  'noether',
  'pascal',
  'pasteur',
  'planck',
  'ritchie',
  'shannon',
  'somerville',
  'tesla',
  'thompson',
  'torvalds',
  'turing',
  'volta',
  'wilson',
  'wing',
  'wright',
  'yalow',
];

function pick<T>(a: T[]): T {
  return a[crypto.randomInt(a.length)];
}

/** A random `adjective_surname`, with a digit appended after `retry` > 0 (as Docker does). */
export function randomName(retry = 0): string {
  const n = `${pick(ADJECTIVES)}_${pick(SURNAMES)}`;
  return retry > 0 ? `${n}${crypto.randomInt(10)}` : n;
}

/** Name -> id, unique. */
export class NameIndex {
  private readonly byName = new Map<string, string>();

  /** The id holding `name`, if any. */
  get(name: string): string | undefined {
    return this.byName.get(name.replace(/^\//, ''));
  }

  /** Reserve `name` for `id`; NameInUseError when another id holds it. */
  reserve(name: string, id: string): void {
    const n = name.replace(/^\//, '');
    const holder = this.byName.get(n);
    if (holder !== undefined && holder !== id) {
      throw new NameInUseError(n, holder);
    }
    this.byName.set(n, id);
  }

  /** Reserve a generated name for `id`. */
  generate(id: string): string {
    for (let retry = 0; ; retry++) {
      const n = randomName(retry);
      if (!this.byName.has(n)) {
        this.byName.set(n, id);
        return n;
      }
    }
  }

  /** Free `name` (only if held by `id`, when given). */
  release(name: string, id?: string): void {
    const n = name.replace(/^\//, '');
    if (id === undefined || this.byName.get(n) === id) this.byName.delete(n);
  }
}
