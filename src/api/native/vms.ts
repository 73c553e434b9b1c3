/**
 * The native API's VM routes (docs/native-api.md): list every VM with its state (Idle,
 * Associated), boot an Idle VM, remove an Idle VM.
 */
import type { Router } from 'express';
import type { NativeServices } from './services';
import { bodyOf, onlyFields, optInt } from './params';
import { vmView } from './views';

/** Register the VM routes on `router` (mounted at /v1). */
export function register(router: Router, s: NativeServices): void {
  router.get('/vms', (_req, res) => {
    res.json(s.vms.listVms().map(vmView));
  });

  router.post('/vms', async (req, res) => {
    const b = bodyOf(req.body);
    onlyFields(b, ['memoryMiB', 'cpus']);
    const memoryMiB = optInt(b, 'memoryMiB', 64, 1 << 20);
    const cpus = optInt(b, 'cpus', 1, 1024);
    const vm = await s.vms.bootVm({ ...(memoryMiB ? { memoryMiB } : {}), ...(cpus ? { cpus } : {}) });
    res.status(201).json(vmView(vm));
  });

  router.delete('/vms/:id', async (req, res) => {
    await s.vms.removeVm(req.params.id);
    res.status(204).end();
  });
}
