"""The reference lab: emulated IoT devices built from real Debian daemons in network namespaces.

Each device is a namespace joined by a veth pair to a bridge inside a separate tester namespace
(198.18.0.0/24, no default route), so nothing a probe sends can leave the lab and the host's own
network is never attached. Device definitions are data: `devices/<name>.yaml` plus templates.
"""
