/** One-time tokens and the resize stream decoder. */
import { ResizeDecoder } from '../../../../../src/api/cri/streaming/resize';
import { TokenCache, TooManyPendingRequests } from '../../../../../src/api/cri/streaming/tokens';
import { ResizeEvents, TerminalSize } from '../../../../../src/api/cri/streaming/types';

describe('TokenCache', () => {
  it('gives a request once, for its kind only, until it expires', () => {
    let now = 1000;
    const cache = new TokenCache<string>({ ttlMs: 100, now: () => now });
    const a = cache.insert('exec', 'A');
    const b = cache.insert('attach', 'B');
    const c = cache.insert('exec', 'C');
    expect(a).not.toBe(c);
    expect(cache.consume('exec', a)).toBe('A');
    expect(cache.consume('exec', a)).toBeUndefined();
    expect(cache.consume('exec', b)).toBeUndefined();
    expect(cache.consume('attach', b)).toBeUndefined();
    now += 100;
    expect(cache.consume('exec', c)).toBeUndefined();
    expect(cache.size).toBe(0);
  });

  it('refuses more than maxPending waiting requests, counting only live ones', () => {
    let now = 0;
    const cache = new TokenCache<number>({ ttlMs: 10, maxPending: 2, now: () => now });
    cache.insert('exec', 1);
    cache.insert('exec', 2);
    expect(() => cache.insert('exec', 3)).toThrow(TooManyPendingRequests);
    now = 10;
    expect(() => cache.insert('exec', 3)).not.toThrow();
  });
});

describe('ResizeDecoder', () => {
  const decode = (...chunks: string[]): TerminalSize[] => {
    const events = new ResizeEvents();
    const sizes: TerminalSize[] = [];
    events.on('resize', (s) => sizes.push(s));
    const d = new ResizeDecoder(events);
    for (const c of chunks) d.push(Buffer.from(c));
    return sizes;
  };

  it('reads consecutive objects split anywhere, keys in any case', () => {
    expect(decode('{"Width":80,"He', 'ight":24}\n{"width":1', '00,"height":30}{"Width":5}')).toEqual([
      { width: 80, height: 24 },
      { width: 100, height: 30 },
      { width: 5, height: 0 },
    ]);
  });

  it('stops at the first thing that is not a size', () => {
    expect(decode('{"Width":80,"Height":24}', 'garbage{"Width":1,"Height":1}')).toEqual([{ width: 80, height: 24 }]);
    expect(decode('{"Width":-1,"Height":24}{"Width":1,"Height":1}')).toEqual([]);
    expect(decode('{"Width":"80","Height":24}')).toEqual([]);
  });
});
