/** The QMP commands and names of a joined container's disks (src/vm/devices/joined-disks.ts). */
import {
  attachJoinedCommands,
  joinedDeviceIds,
  joinedDiskNames,
  joinedNodeNames,
} from '../../../src/vm/devices/joined-disks';

const ID = 'b'.repeat(64);

describe('joined disks', () => {
  it('names every disk after the container: serials the agent takes, names QEMU takes', () => {
    const { upperSerial, imageSerial } = joinedDiskNames(ID);
    for (const s of [upperSerial, imageSerial]) expect(s).toMatch(/^[A-Za-z0-9-]{1,20}$/);
    expect(upperSerial).not.toBe(imageSerial);
    // Any id the agent takes (not only hex) gives valid names, and two ids give two sets.
    const other = joinedDiskNames('my_container.1');
    expect(other.upperSerial).toMatch(/^pvu-[0-9a-f]{16}$/);
    expect(other.upperSerial).not.toBe(upperSerial);
    for (const n of [...joinedDeviceIds('my_container.1'), ...joinedNodeNames('my_container.1')])
      expect(n).toMatch(/^[a-z][a-z0-9-]{1,30}$/);
  });

  it('hot-plugs the upper disk read-write (host flushes off) and the image disk read-only, each a scsi-hd on the controller', () => {
    const cmds = attachJoinedCommands('pvscsi', ID, '/v/upper', '/v/image');
    const [upperFile, upperRaw, upperDev, imageFile, imageRaw, imageDev] = cmds;
    expect(upperFile).toEqual([
      'blockdev-add',
      expect.objectContaining({ driver: 'file', filename: '/v/upper', cache: { direct: false, 'no-flush': true } }),
    ]);
    expect(upperFile[1]['read-only']).toBeUndefined();
    expect(upperRaw).toEqual([
      'blockdev-add',
      expect.objectContaining({ driver: 'raw', file: upperFile[1]['node-name'] }),
    ]);
    expect(upperDev).toEqual([
      'device_add',
      {
        driver: 'scsi-hd',
        bus: 'pvscsi.0',
        drive: upperRaw[1]['node-name'],
        serial: joinedDiskNames(ID).upperSerial,
        id: joinedDeviceIds(ID)[0],
      },
    ]);
    expect(imageFile).toEqual(['blockdev-add', expect.objectContaining({ filename: '/v/image', 'read-only': true })]);
    expect(imageRaw[1]['read-only']).toBe(true);
    expect(imageDev[1]).toMatchObject({ serial: joinedDiskNames(ID).imageSerial, id: joinedDeviceIds(ID)[1] });
    // Removed by the same names: each format node before its file node.
    expect(joinedNodeNames(ID)).toEqual([
      upperRaw[1]['node-name'],
      upperFile[1]['node-name'],
      imageRaw[1]['node-name'],
      imageFile[1]['node-name'],
    ]);
  });

  it('puts each disk where a save found it when told (a restore: the saved state names a disk by its SCSI address)', () => {
    const at = { upper: { scsiId: 3, lun: 0 }, image: { scsiId: 4, lun: 0 } };
    const devs = attachJoinedCommands('pvscsi', ID, '/v/upper', '/v/image', at).filter(([c]) => c === 'device_add');
    expect(devs.map(([, a]) => [a.id, a['scsi-id'], a.lun])).toEqual([
      [joinedDeviceIds(ID)[0], 3, 0],
      [joinedDeviceIds(ID)[1], 4, 0],
    ]);
    // Without: QEMU picks a free target.
    const free = attachJoinedCommands('pvscsi', ID, '/v/upper', '/v/image').filter(([c]) => c === 'device_add');
    expect(free).toHaveLength(2);
    expect(free.map(([, a]) => a['scsi-id'])).toEqual([undefined, undefined]);
  });

  it("opens a copy-on-write upper disk (a restored pod's container) as a qcow2 overlay over its files, given explicitly and read-only", () => {
    const cmds = attachJoinedCommands('pvscsi', ID, '/v/overlay', '/v/image', undefined, ['/v/b/0', '/v/b/1']);
    const [upperFile, upperRaw] = cmds;
    expect(upperFile[1]).toEqual({
      driver: 'qcow2',
      'node-name': joinedNodeNames(ID)[1],
      cache: { direct: false, 'no-flush': true },
      file: { driver: 'file', filename: '/v/overlay' },
      backing: {
        driver: 'qcow2',
        'read-only': true,
        file: { driver: 'file', filename: '/v/b/0', 'read-only': true },
        backing: {
          driver: 'raw',
          'node-name': expect.stringMatching(/^jdb-[0-9a-f]{16}$/),
          'read-only': true,
          file: { driver: 'file', filename: '/v/b/1', 'read-only': true },
        },
      },
    });
    // The device stands on the same raw node as over a raw file, and goes by the same names.
    expect(upperRaw[1]).toMatchObject({ driver: 'raw', file: joinedNodeNames(ID)[1] });
    // Two containers' chains have two base nodes (QEMU's node names are the VM's, one each).
    const other = attachJoinedCommands('pvscsi', 'c'.repeat(64), '/v/o2', '/v/i2', undefined, ['/v/c/0']);
    expect(other[0][1].backing).toMatchObject({ driver: 'raw' });
    expect((other[0][1].backing as { 'node-name': string })['node-name']).not.toBe(
      (upperFile[1].backing as { backing: { 'node-name': string } }).backing['node-name'],
    );
  });
});
