#!/usr/bin/env bash
# One-shot set-up for a bare Debian machine (run as root): the lab's real daemons and the
# tester's scanners from Debian, then a venv with the project installed in editable mode.
# Idempotent and quick when nothing changed: a stamp keyed on this script and pyproject.toml
# lets `make test` / `make demo` call it every time.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${VENV:-.venv}
STAMP="$VENV/.setup-stamp"
want=$(cat scripts/setup.sh pyproject.toml | sha256sum | cut -d' ' -f1)
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ] && [ -x "$VENV/bin/iot-harness" ]; then
  exit 0
fi

APT_PACKAGES=(
  iproute2 util-linux procps openssl ca-certificates   # namespaces, veth, ss, setsid/unshare, PKI
  nmap                                                  # exposure scans (tester side)
  libcoap3-bin                                          # plug/hub: CoAP sensors (plain with open writes; DTLS only)
  nftables                                              # hub: its firewall lets only CoAP over DTLS through
  openssh-server openssh-client                         # hub: key-only sshd; ssh-keygen
  dropbear-bin                                          # cam: password ssh, as cheap cameras ship
  busybox-static                                        # telnetd/login/httpd applets (Debian's dynamic busybox lacks them)
  miniupnpd-nftables                                    # router: SSDP + UPnP IGD
  nginx                                                 # http(s) admin interfaces, weak and hardened
  mosquitto                                             # MQTT, anonymous and TLS+password
  avahi-daemon                                          # cam/hub: mDNS/DNS-SD advertisements
  snmpd                                                 # cam: SNMP agent with community "public"
  tftpd-hpa                                             # router: the firmware-recovery TFTP server left on
  testssl.sh                                            # independent TLS cross-check (project tests)
  swupdate                                              # hub, router: the update agent (CMS-signed .swu, anti-rollback)
  curl                                                  # hub: pulls updates over TLS from its update server
  socat                                                 # plug: services that answer garbage (hostile-answer checks)
  rauc squashfs-tools dbus                              # gate: RAUC agent on a private bus; RAUC bundles read and built
  chromium poppler-utils fonts-noto-cjk                 # reports: the HTML page rendered, printed to PDF and checked
  python3 python3-venv python3-pip
)

if [ "$(id -u)" -eq 0 ]; then
  # Package scripts must never start host daemons (an sshd on the host's port 22, say):
  # the lab starts its own copies inside namespaces.
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
  fi
  missing=()
  for p in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "setup: installing Debian packages: ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
else
  echo "setup: not root; skipping apt-get (the lab needs root and these packages: ${APT_PACKAGES[*]})" >&2
fi

PY=${PYTHON:-python3}
if [ ! -x "$VENV/bin/python" ]; then
  echo "setup: creating venv $VENV" >&2
  "$PY" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install -q --upgrade pip >/dev/null
"$VENV/bin/python" -m pip install -q -e '.[dev]'
echo "$want" >"$STAMP"
echo "setup: done ($VENV)" >&2
