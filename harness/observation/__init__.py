"""Stage 2, observation: talking to the device, and only here. Every probe goes through the one
scope guard (`scope.py`: addresses, the per-unit connection budget, probe classes), learns what
it can within a deadline and a byte cap, and hands it to the observation store (`store.py`),
which records it once per unit for every check. A new protocol is one entry in `protocols.py`;
a new probe is a module in `probes/`."""
