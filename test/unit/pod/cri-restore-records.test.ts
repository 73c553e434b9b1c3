/**
 * The records of a CRI checkpoint archive rebuilt for a restore (src/pod/checkpoints/
 * cri-restore-records.ts): the archive's vm.json and pod.json are hostile, so each field is
 * checked and the records are written from the checked fields alone. The saved VM's image disk
 * is the archive's own copy whatever the archive names; a VM with disks of its own, another
 * container, an image disk at a host path, bad addresses or a bad process id are refused.
 */
import {
  CriRecordError,
  criRestorePodRecord,
  criRestoreVmRecord,
} from '../../../src/pod/checkpoints/cri-restore-records';
import type { PodRecord } from '../../../src/pod/types';

const DISK = 'a'.repeat(64);
const SAVED = 'b'.repeat(64);
const NOW = 'c'.repeat(64);
const IMAGE = { file: '/data/pods/x/checkpoints/cri-restore-1/image-0.ext4', identity: '1:2:3:4' };

/** A vm.json as a CRI sandbox's save writes it, with `over` laid over it. */
function vmJson(over: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    format: 1,
    size: { memoryMiB: 256, cpus: 1 },
    devices: { nics: 1, volumes: true, upperDisk: false, imageDisk: false },
    splitWx: false,
    stamp: 'kernel=x\naccel=tcg',
    savedAt: '2026-11-29T18:00:00Z',
    nics: [{ name: 'eth0', mac: '02:00:00:00:00:01', mtu: 1500, up: true, address: '10.99.47.2', prefix: 24 }],
    joined: [
      {
        containerId: DISK,
        diskCopy: 'joined-0.disk',
        imageDisk: { file: '/etc/shadow', identity: 'x' },
        at: { upper: { scsiId: 0, lun: 1 }, image: { scsiId: 0, lun: 2 } },
      },
    ],
    ...over,
  };
}

describe('criRestoreVmRecord', () => {
  it("rebuilds the record, its container's image disk the archive's copy, kept by the restore", () => {
    const r = criRestoreVmRecord(vmJson({ extra: 'dropped' }), DISK, IMAGE);
    expect(r).toEqual({
      format: 1,
      size: { memoryMiB: 256, cpus: 1 },
      devices: { nics: 1, volumes: true, upperDisk: false, imageDisk: false },
      splitWx: false,
      stamp: 'kernel=x\naccel=tcg',
      savedAt: '2026-11-29T18:00:00Z',
      nics: [{ name: 'eth0', mac: '02:00:00:00:00:01', mtu: 1500, up: true, address: '10.99.47.2', prefix: 24 }],
      joined: [
        {
          containerId: DISK,
          diskCopy: 'joined-0.disk',
          imageDisk: IMAGE,
          at: { upper: { scsiId: 0, lun: 1 }, image: { scsiId: 0, lun: 2 } },
        },
      ],
      joinedStay: true,
    });
  });

  test.each<[string, Record<string, unknown>, RegExp]>([
    ['another format', { format: 2 }, /not format 1/],
    ['a huge VM', { size: { memoryMiB: 1e9, cpus: 1 } }, /its size/],
    ['devices that are not', { devices: { nics: 1, volumes: 'yes', upperDisk: false } }, /not the devices/],
    ['an image disk at a host path', { imageDisk: { file: '/etc/passwd', identity: 'x' } }, /disks of its own/],
    ['a disk copy of its own', { diskCopy: '../../etc/passwd' }, /disks of its own/],
    ['NICs other than its devices', { devices: { nics: 2, volumes: true, upperDisk: false } }, /its NICs/],
    ['no NIC', { devices: { nics: 0, volumes: true, upperDisk: false }, nics: [] }, /not the devices/],
    ['no container', { joined: [] }, /not one container/],
    ['a long stamp', { stamp: 'x'.repeat(5000) }, /its stamp/],
  ])('refuses %s', (_what, over, why) => {
    expect(() => criRestoreVmRecord(vmJson(over), DISK, IMAGE)).toThrow(why);
    expect(() => criRestoreVmRecord(vmJson(over), DISK, IMAGE)).toThrow(CriRecordError);
  });

  it("refuses a container that is not the manifest's, a layer copy by another name, bad addresses", () => {
    const joined = (j: Record<string, unknown>) => ({
      joined: [{ ...(vmJson().joined as Array<Record<string, unknown>>)[0], ...j }],
    });
    expect(() => criRestoreVmRecord(vmJson(), SAVED, IMAGE)).toThrow(/not the manifest's/);
    expect(() => criRestoreVmRecord(vmJson(joined({ diskCopy: '../x' })), DISK, IMAGE)).toThrow(/joined-0.disk/);
    expect(() =>
      criRestoreVmRecord(vmJson(joined({ at: { upper: { scsiId: -1, lun: 0 }, image: {} } })), DISK, IMAGE),
    ).toThrow(/address/);
    expect(() => criRestoreVmRecord(null, DISK, IMAGE)).toThrow(/not format 1/);
  });
});

describe('criRestorePodRecord', () => {
  const now = {
    id: NOW,
    name: 'k8s_POD_restored',
    containers: { [NOW]: { spec: { id: NOW, podPause: true }, state: { status: 'running' }, process: 'init-cccc' } },
    sandbox: { spec: { cni: {} } },
  } as unknown as PodRecord;

  it("is the new sandbox's record with its pause as the guest knows the saved one", () => {
    const raw = { id: SAVED, containers: { [SAVED]: { spec: { id: SAVED }, process: 'init-bbbbbbbbbbbb' } } };
    const r = criRestorePodRecord(raw, now);
    expect(r.id).toBe(SAVED);
    expect(r.name).toBe('k8s_POD_restored');
    expect(Object.keys(r.containers)).toEqual([SAVED]);
    expect(r.containers[SAVED]).toMatchObject({ spec: { id: SAVED, podPause: true }, process: 'init-bbbbbbbbbbbb' });
    // The new sandbox's own record is left as it was.
    expect(Object.keys(now.containers)).toEqual([NOW]);
  });

  test.each<[string, unknown, RegExp]>([
    ['no id', { containers: {} }, /its id/],
    ['two containers', { id: SAVED, containers: { [SAVED]: {}, [NOW]: {} } }, /not one container/],
    ['a container not its own', { id: SAVED, containers: { [NOW]: { process: 'p' } } }, /not its own/],
    ['a bad process id', { id: SAVED, containers: { [SAVED]: { process: '../x y' } } }, /init process/],
  ])('refuses %s', (_what, raw, why) => {
    expect(() => criRestorePodRecord(raw, now)).toThrow(why);
  });
});
