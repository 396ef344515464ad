"""Models of the Typeform Responses API (`GET /forms/{id}/responses`).

Each answer holds its value under the key named by its `type` (`{"type": "text", "text": ...}`);
`answer_value` returns that value. Join answers to questions on `field.ref`. `response_id` is unique
per form only, so de-duplicate on (form id, `response_id`).
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, TypeAdapter, model_validator

from ._common import NullAsEmptyDict, NullAsEmptyList, SourceModel, UtcDatetime


class AnswerField(SourceModel):
    """The question an answer belongs to; `ref` is the stable key used by the survey config."""

    id: str
    type: str  # the question type: short_text, opinion_scale, multiple_choice, ...
    ref: str | None = None


class ChoiceAnswer(SourceModel):
    """A single choice: the option's label, or `other` when the respondent typed their own."""

    id: str | None = None
    ref: str | None = None
    label: str | None = None
    other: str | None = None


class ChoicesAnswer(SourceModel):
    """Several choices: the options' labels, and `other` when the respondent typed their own."""

    ids: list[str] | None = None
    refs: list[str] | None = None
    labels: Annotated[list[str], NullAsEmptyList] = Field(default_factory=list)
    other: str | None = None


class PaymentAnswer(SourceModel):
    """A payment answer (not used by surveys; kept so such forms still parse)."""

    amount: str | None = None
    last4: str | None = None
    name: str | None = None
    success: bool | None = None


AnswerValue = str | int | float | bool | list[str] | PaymentAnswer | None

# Answer types with a documented value key; other types parse, with no value (answer_value None).
_VALUE_KEYS = frozenset(
    {"text", "email", "url", "file_url", "phone_number", "date", "number", "boolean"}
    | {"choice", "choices", "payment"}
)


class Answer(SourceModel):
    """One answer: the question (`field`), the answer `type`, and the value under that key."""

    field: AnswerField
    type: str
    text: str | None = None
    email: str | None = None
    url: str | None = None
    file_url: str | None = None
    phone_number: str | None = None
    date: str | None = None  # as Typeform sends it; a date answer has no zone to speak of
    number: int | float | None = None
    boolean: bool | None = None
    choice: ChoiceAnswer | None = None
    choices: ChoicesAnswer | None = None
    payment: PaymentAnswer | None = None

    @model_validator(mode="after")
    def _value_is_present(self) -> Answer:
        if self.type in _VALUE_KEYS and getattr(self, self.type) is None:
            raise ValueError(f"answer of type {self.type!r} has no {self.type!r} value")
        return self


def answer_value(answer: Answer) -> AnswerValue:
    """The answer's value: a label for `choice`, labels (plus `other`) for `choices`, else as sent.

    Returns None for an answer type this model does not know.
    """
    if answer.type == "choice" and answer.choice is not None:
        return answer.choice.label if answer.choice.label is not None else answer.choice.other
    if answer.type == "choices" and answer.choices is not None:
        other = [answer.choices.other] if answer.choices.other else []
        return [*answer.choices.labels, *other]
    if answer.type in _VALUE_KEYS:
        return getattr(answer, answer.type)
    return None


class Response(SourceModel):
    """One submitted response: when it was landed and submitted, hidden fields and answers."""

    response_id: str
    token: str
    landed_at: UtcDatetime
    submitted_at: UtcDatetime
    hidden: Annotated[dict[str, str], NullAsEmptyDict] = Field(default_factory=dict)
    answers: Annotated[list[Answer], NullAsEmptyList] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _response_id_defaults_to_token(cls, data: Any) -> Any:
        # Older responses carry only `token`; Typeform gives both the same value.
        if isinstance(data, dict) and not data.get("response_id") and data.get("token"):
            return {**data, "response_id": data["token"]}
        return data


class ResponsePage(SourceModel):
    """One page of responses; items stay raw and are validated one by one with `RESPONSE`."""

    total_items: int
    page_count: int
    items: Annotated[list[dict[str, Any]], NullAsEmptyList]


RESPONSE = TypeAdapter(Response)
RESPONSE_PAGE = TypeAdapter(ResponsePage)
ANSWER = TypeAdapter(Answer)
