"""A batch that shares one provider process refuses a shown plan using two configurations of
the provider before the apply gate's own checks run, and before a plan is saved
(plans.operations): one process can answer for one region only."""

from __future__ import annotations

import json

import pytest

from bbws_infra.core.errors import OperationError
from bbws_infra.engine import terraform
from bbws_infra.plans import operations


def _shown(*keys: str) -> terraform.Result:
    plan = {"configuration": {"root_module": {"resources": [
        {"provider_config_key": key} for key in keys]}}}
    return terraform.Result(("show",), 0, json.dumps(plan), "", 0.1)


SHOW = terraform.Command(["show", "-json", "-no-color", "plan.tfplan"], log=False)


def test_the_apply_gate_refuses_a_plan_using_two_configurations_first() -> None:
    checked: list[int] = []
    apply = terraform.Command(["apply", "plan.tfplan"], gate=lambda results:
                              checked.append(len(results)))
    show, gated = operations._gates_after_one_configuration([SHOW, apply])
    assert show is SHOW and gated.gate is not apply.gate
    assert gated.gate is not None
    gated.gate([_shown("aws", "aws")])
    assert checked == [1]  # one configuration: the apply's own checks run
    with pytest.raises(OperationError, match=r"2 configurations .*aws, aws\.dr"):
        gated.gate([_shown("aws", "aws.dr")])
    assert checked == [1]  # refused before them: nothing applied


def test_a_shown_plan_using_two_configurations_is_refused_and_other_output_is_not_read(
        ) -> None:
    operations._one_configuration(SHOW, _shown("aws"))
    with pytest.raises(OperationError):
        operations._one_configuration(SHOW, _shown("aws", "backup:aws"))
    plan = terraform.Command(["plan", "-out=p"])
    operations._one_configuration(plan, terraform.Result(("plan",), 2, "not json", "", 0.1))
