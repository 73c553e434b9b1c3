#!/usr/bin/env bash
# Builds the guest into guest/out: the kernel (from Debian's linux-image-cloud-amd64) and the
# initramfs (busybox-static, kernel modules, our agent as /init). Filled in by the VM runtime work.
set -euo pipefail
