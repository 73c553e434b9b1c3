"""
docker-py's exec start, N times, against a server at BASE_URL (unix:// or https://), printing
as JSON what each start returned. With https, CERT_DIR holds ca.pem, cert.pem and key.pem.

    docker_py_exec_start.py BASE_URL N [CERT_DIR]
"""
import json
import os
import sys

import docker

base_url, n = sys.argv[1], int(sys.argv[2])
tls = False
if len(sys.argv) > 3:
    d = sys.argv[3]
    tls = docker.tls.TLSConfig(
        client_cert=(os.path.join(d, 'cert.pem'), os.path.join(d, 'key.pem')),
        ca_cert=os.path.join(d, 'ca.pem'),
        verify=True,
    )
api = docker.APIClient(base_url=base_url, version='1.41', tls=tls)
print(json.dumps([api.exec_start('x').decode('utf-8', 'replace') for _ in range(n)]))
