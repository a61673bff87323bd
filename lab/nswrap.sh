#!/bin/sh
# Runs inside `ip netns exec`, which already gives a private mount namespace:
#  - its own /run (sshd's privilege-separation dir, pam_faillock's tallies) on a tmpfs;
#  - /etc as an overlay whose upper layer holds the lab-only account files (and any PAM
#    override), so lab accounts never touch the host's files and password changes (which
#    rename files in /etc) work;
#  - the device's hostname in a private UTS namespace;
# then execs the daemon (same PID, so the recorded PID is the daemon's).
set -e
ovl=$1; host=$2; shift 2
mount -t tmpfs -o mode=0755,size=16m labrun /run
mkdir -p /run/sshd /run/mosquitto /run/faillock /run/avahi-daemon
chmod 0755 /run/sshd
if [ -d "$ovl/upper" ]; then
  mount -t overlay labetc -o "lowerdir=/etc,upperdir=$ovl/upper,workdir=$ovl/work" /etc
fi
exec unshare --uts -- sh -c 'hostname "$0" && exec "$@"' "$host" "$@"
