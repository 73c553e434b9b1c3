import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  BLKIO_WEIGHT_DEVICE_DISCARDED,
  BLKIO_WEIGHT_DISCARDED,
  discardBlkioWeights,
  hostBlkioWeightSupport,
} from '../../../src/api/v1.41/docker/blkio-weight';

describe('--blkio-weight where the host cannot weigh block I/O', () => {
  const none = { weight: false, weightDevice: false };

  test("discarded with dockerd's warnings, 0 and [] stored", () => {
    const r = discardBlkioWeights({ BlkioWeight: 300, BlkioWeightDevice: [{ Path: '/dev/sda', Weight: 5 }] }, none);
    expect(r).toEqual({
      hostConfig: { BlkioWeight: 0, BlkioWeightDevice: [] },
      warnings: [BLKIO_WEIGHT_DISCARDED, BLKIO_WEIGHT_DEVICE_DISCARDED],
    });
  });

  test('nothing asked, nothing said; a supported weight is left for the refusal', () => {
    expect(discardBlkioWeights({ BlkioWeight: 0, BlkioWeightDevice: [] }, none).warnings).toEqual([]);
    const both = { weight: true, weightDevice: true };
    expect(discardBlkioWeights({ BlkioWeight: 300 }, both)).toEqual({ hostConfig: { BlkioWeight: 300 }, warnings: [] });
  });

  test("the host's support, read as dockerd reads it (cgroup v1 weight files, or v2's io controller)", () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'pv-blkio-'));
    try {
      fs.mkdirSync(path.join(root, 'blkio'));
      expect(hostBlkioWeightSupport(root)).toEqual({ weight: false, weightDevice: false });
      fs.writeFileSync(path.join(root, 'blkio/blkio.bfq.weight'), '');
      expect(hostBlkioWeightSupport(root)).toEqual({ weight: true, weightDevice: false });
      fs.writeFileSync(path.join(root, 'cgroup.controllers'), 'cpu memory pids\n');
      expect(hostBlkioWeightSupport(root)).toEqual({ weight: false, weightDevice: false });
      fs.writeFileSync(path.join(root, 'cgroup.controllers'), 'cpu io memory pids\n');
      expect(hostBlkioWeightSupport(root)).toEqual({ weight: true, weightDevice: true });
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });
});
