"""Software-update integrity: update images (read, build, sign, verify offline, derive the
malicious variants) and the device side of an update (upload, status, version read-back)."""
