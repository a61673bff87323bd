#!/bin/sh
# Runs inside `ip netns exec`, which already gives a private mount namespace. Gives the daemon
# its own /run and the lab-only account files, sets the device's hostname in a private UTS
# namespace, then execs the daemon (same PID, so the recorded PID is the daemon's).
set -e
d=$1; host=$2; shift 2
mount -t tmpfs -o mode=0755,size=16m labrun /run
mkdir -p /run/sshd /run/mosquitto
chmod 0755 /run/sshd
for f in passwd shadow group; do
  if [ -f "$d/etc/$f" ]; then mount --bind "$d/etc/$f" "/etc/$f"; fi
done
exec unshare --uts -- sh -c 'hostname "$0" && exec "$@"' "$host" "$@"
