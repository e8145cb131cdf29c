"""What the catalogue says of a session: its exercise, ladder, fault codes and red flags must
be ones it lists (for every post, single or batch, and for evaluate)."""

from app.catalogue.memory import LiveCatalogue
from app.errors import InvalidRequest, ProblemError
from app.sessions.schemas import SessionIn


def check_against_catalogue(body: SessionIn, catalogue: LiveCatalogue) -> list[ProblemError]:
    """The exercise must exist and list every fault code given, and every red flag must be in the
    safety list; `loc` is relative to the body."""
    problems = [
        ProblemError(loc=["red_flags", i], msg=f"unknown red flag {code!r}; the codes are listed at /v1/safety")
        for i, code in enumerate(body.red_flags)
        if code not in catalogue.red_flag_codes
    ]
    codes = catalogue.fault_codes(body.exercise)
    if codes is None:
        return [ProblemError(loc=["exercise"], msg=f"unknown exercise {body.exercise!r}"), *problems]
    named = []
    if body.progression is not None and catalogue.ladder_step(body.exercise, body.progression) is None:
        msg = f"there is no ladder {body.progression!r} with {body.exercise!r} as a step"
        named.append(ProblemError(loc=["progression"], msg=msg))
    faults = [
        ProblemError(loc=["faults", i], msg=f"{body.exercise} has no fault code {code!r}")
        for i, code in enumerate(body.faults)
        if code not in codes
    ]
    return named + faults + problems


def checked(body: SessionIn, catalogue: LiveCatalogue, *, at: list[str | int]) -> None:
    """Raise one 422 naming every field of `body` (found at `at`) the catalogue refuses."""
    problems = check_against_catalogue(body, catalogue)
    if problems:
        raise InvalidRequest.of([ProblemError(loc=[*at, *p.loc], msg=p.msg) for p in problems])
