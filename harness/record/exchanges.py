"""The bundle's account of how long the exchanges with the units took against their deadlines
(filled in by the observation layer's ledger, `harness.observation.exchanges`)."""

from __future__ import annotations

from pydantic import BaseModel, Field

LATE_S = 1.0  # an exchange that ends this much past its deadline was not bounded where it should be


class TimedExchange(BaseModel):
    address: str
    port: int | None = Field(description="none for a scan over many ports")
    kind: str = Field(description="connection (one socket held in the scope guard), tls-scan, port-scan or udp-scan")
    deadline_s: float
    elapsed_s: float
    cut: bool = Field(description="the deadline shut it: what it received last was cut off")

    @property
    def over_s(self) -> float:
        return self.elapsed_s - self.deadline_s


class ExchangeSummary(BaseModel):
    count: int = 0
    cut_at_deadline: int = 0
    late: int = Field(0, description=f"exchanges that ended more than {LATE_S:g} s past their deadline")
    longest_s: float = 0.0
    most_over_deadline_s: float | None = Field(
        None, description="elapsed minus deadline of the exchange that came closest to or went past its deadline")
    closest_to_deadline: list[TimedExchange] = Field(default_factory=list)
