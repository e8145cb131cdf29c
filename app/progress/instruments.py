"""The four outcome instruments, each declared once: its range, whether a higher score is
better, and its minimal clinically important difference (MCID). The request schema, the range
check and `meaningful` are all derived from `INSTRUMENTS`."""

from dataclasses import dataclass
from typing import Literal

InstrumentCode = Literal["odi", "rmdq", "psfs", "nprs"]


@dataclass(frozen=True, slots=True)
class Instrument:
    name: str
    low: float
    high: float
    mcid: float  # the smallest change a person notices as better
    higher_is_better: bool
    whole: bool  # scored in whole points only

    def change(self, baseline: float, latest: float) -> float:
        return round(latest - baseline, 2)

    def meaningful(self, baseline: float, latest: float) -> bool:
        """Whether the change reaches the MCID in the better direction."""
        change = self.change(baseline, latest)
        return change >= self.mcid if self.higher_is_better else -change >= self.mcid

    def describe(self) -> str:
        scale = f"{self.low:g}-{self.high:g}" + (" whole points" if self.whole else "")
        better = "higher" if self.higher_is_better else "lower"
        return f"{self.name}: {scale}, {better} is better, a change of {self.mcid:g} is meaningful"


INSTRUMENTS: dict[str, Instrument] = {
    "odi": Instrument("Oswestry Disability Index (%)", 0, 100, 10, higher_is_better=False, whole=False),
    "rmdq": Instrument("Roland-Morris Disability Questionnaire", 0, 24, 5, higher_is_better=False, whole=True),
    "psfs": Instrument("Patient-Specific Functional Scale (mean)", 0, 10, 2, higher_is_better=True, whole=False),
    "nprs": Instrument("Numeric Pain Rating Scale (last week's mean)", 0, 10, 2, higher_is_better=False, whole=False),
}
