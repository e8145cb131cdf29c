"""The contract's schemas mirror the rules' records field for field, and a ladder's thresholds
are the same names in the rules, the content schema and the table: a field added to one side
and not the other fails here, not in a partner's client."""

import dataclasses

from app.catalogue import schemas as catalogue_schemas
from app.catalogue.tables import ProgressionRow
from app.progression import model
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
    names = _protocol_members(model.Rules)
    assert len(names) == 10
    assert set(catalogue_schemas.Rules.model_fields) == names
    assert names <= set(ProgressionRow.model_fields)


def test_a_step_as_the_rules_read_it_is_a_step_as_the_catalogue_serves_it():
    assert _protocol_members(model.Step) <= set(catalogue_schemas.Step.model_fields)
