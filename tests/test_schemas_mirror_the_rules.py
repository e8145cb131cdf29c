"""The contract's schemas mirror the rules' records field for field, and a ladder's thresholds
are the same names in the rules, the content schema and the table: a field added to one side
and not the other fails here, not in a partner's client."""

import dataclasses

from app.catalogue import schemas as catalogue_schemas
from app.catalogue.content import load_content
from app.catalogue.ladders import RULE_RANGES, LadderIn, LadderRulesIn
from app.catalogue.tables import ProgressionRow
from app.progression import model
from app.progression.thresholds import THRESHOLDS
from app.recommendations import schemas as recommendation_schemas
from app.sessions.schemas import AssessmentOut


def _protocol_members(protocol: type) -> set[str]:
    return {name for name, value in vars(protocol).items() if isinstance(value, property)}


def test_a_stored_sessions_assessment_has_the_fields_the_rules_assess():
    assert list(AssessmentOut.model_fields) == list(model.Assessment._fields)


def test_prescriptions_and_reasons_have_the_fields_the_rules_return():
    for schema, record in (
        (recommendation_schemas.Prescription, model.Prescription),
        (recommendation_schemas.Reason, model.Reason),
    ):
        assert list(schema.model_fields) == [f.name for f in dataclasses.fields(record)], schema.__name__


def test_a_recommendation_answer_carries_every_field_of_the_rules_answer():
    answer = set(recommendation_schemas.RecommendationOut.model_fields)
    assert {f.name for f in dataclasses.fields(model.Recommendation)} <= answer


def test_thresholds_have_one_set_of_names_in_rules_content_and_table():
    """Each threshold is declared once (`THRESHOLDS`); the rules' protocol, the served schema,
    the published ladder and the table name exactly those, in that order."""
    names = [threshold.name for threshold in THRESHOLDS]
    assert len(names) == len(set(names)) == 10
    assert [name for name, value in vars(model.Rules).items() if isinstance(value, property)] == names
    assert list(catalogue_schemas.Rules.model_fields) == names
    assert list(LadderRulesIn.model_fields) == names
    assert [column for column in ProgressionRow.model_fields if column in names] == names
    assert set(RULE_RANGES) == set(names)


def test_every_fact_of_a_threshold_reaches_the_schemas_and_the_checks():
    served = catalogue_schemas.Rules.model_json_schema()["properties"]
    asked = LadderRulesIn.model_json_schema()["properties"]
    for threshold in THRESHOLDS:
        name = threshold.name
        assert served[name]["description"] == threshold.meaning
        assert served[name]["minimum"] == asked[name]["minimum"] == threshold.low
        assert served[name].get("maximum") == (None if threshold.open_ended else threshold.high)
        assert asked[name]["maximum"] == threshold.high
        assert asked[name]["description"] == threshold.asked
        assert served[name].get("default") == asked[name].get("default") == threshold.default
        assert RULE_RANGES[name] == (threshold.low, threshold.high)
    example = LadderIn.model_config["json_schema_extra"]["examples"][0]["rules"]  # type: ignore[index]
    assert example == {threshold.name: threshold.example for threshold in THRESHOLDS}


def test_the_built_in_ladders_give_every_threshold_without_a_default():
    required = {threshold.name for threshold in THRESHOLDS if threshold.default is None}
    for progression in load_content().progressions:
        assert required <= set(progression.rules.model_fields_set), progression.slug


def test_a_step_as_the_rules_read_it_is_a_step_as_the_catalogue_serves_it():
    assert _protocol_members(model.Step) <= set(catalogue_schemas.Step.model_fields)


def test_each_thresholds_unmet_code_is_a_rule_9_code_and_reads_its_own_sentence():
    from app.progression.messages import keep_practising

    rules = load_content().progressions[0].rules
    unmet = [threshold for threshold in THRESHOLDS if threshold.unmet is not None]
    assert len({threshold.unmet for threshold in unmet}) == len(unmet)
    for threshold in unmet:
        assert threshold.unmet in model.UNMET_ORDER and threshold.missing
        sentence = keep_practising([threshold.unmet], rules)
        head = threshold.missing.split("{")[0]
        assert head in sentence, (threshold.name, sentence)
        if "{value}" in threshold.missing:
            assert f"{getattr(rules, threshold.name)} " in sentence.removeprefix(head.split(" ")[0])
