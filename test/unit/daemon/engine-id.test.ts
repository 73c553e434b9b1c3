import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ENGINE_ID_FILE, isEngineId, loadEngineId, newEngineId } from '../../../src/daemon/engine-id';

describe('engine ID', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'engine-id-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("has dockerd's shape and differs between daemons", () => {
    const a = newEngineId();
    expect(a).toMatch(/^[A-Z2-7]{4}(:[A-Z2-7]{4}){11}$/);
    expect(newEngineId()).not.toBe(a);
  });

  it('is stored in the data root and the same on the next start', () => {
    const a = loadEngineId(dir);
    expect(isEngineId(a)).toBe(true);
    expect(fs.readFileSync(path.join(dir, ENGINE_ID_FILE), 'utf8').trim()).toBe(a);
    expect(loadEngineId(dir)).toBe(a);
  });

  it('replaces a damaged file', () => {
    fs.writeFileSync(path.join(dir, ENGINE_ID_FILE), 'garbage\n');
    const a = loadEngineId(dir);
    expect(isEngineId(a)).toBe(true);
    expect(loadEngineId(dir)).toBe(a);
  });
});
