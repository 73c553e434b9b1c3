/**
 * POST /images/load answers as dockerd does whatever the body: a 200 JSON stream, a malformed
 * archive reported as its errorDetail line (docker-py's images.load raises ImageLoadError on
 * that line, and only on it; a 400 would be an APIError). Over a real ImageService in a temp
 * directory; nothing is stored.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import request from 'supertest';
import { createApiApp } from '../../../src/api/v1.41/server';
import { ImageService } from '../../../src/storage/service';

let root: string;
let images: ImageService;
beforeEach(async () => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'pv-load-'));
  images = await ImageService.open(path.join(root, 'data'));
});
afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

test.each([['abc'], ['not an archive'.repeat(100)]])(
  'a body that is no archive (%#): 200, one errorDetail line, no image',
  async (body) => {
    const app = createApiApp({ system: { version: '0.0.0-test', dataRoot: root, accel: 'tcg' }, images });
    for (const quiet of ['0', '1']) {
      const res = await request(app)
        .post(`/v1.41/images/load?quiet=${quiet}`)
        .set('Content-Type', 'application/x-tar')
        .send(Buffer.from(body));
      expect(res.status).toBe(200);
      expect(res.headers['content-type']).toBe('application/json');
      const lines = res.text
        .trim()
        .split(/\r?\n/)
        .map((l) => JSON.parse(l));
      expect(lines).toHaveLength(1);
      expect(lines[0]).toEqual({
        errorDetail: { message: expect.stringContaining('invalid archive') },
        error: lines[0].errorDetail.message,
      });
    }
    expect(images.store.list()).toEqual([]);
  },
);
