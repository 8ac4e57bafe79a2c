"""The client's call loop drives the pacer: requests are spaced from the previous answer, and a
ThrottlingException slows the operation down (real boto3 client, scripted answers, fake clock)."""

from __future__ import annotations

from typing import Any

import pytest
from awsfakes import DS, IS, Answer, error, image_set, make_api

from reconciler.pacing import DECREASE, INCREASE, MARGIN, SLACK

INTERVAL = 4 * (1 + MARGIN) + SLACK  # UpdateImageSetMetadata's documented 0.25/s, burst 1, with the margins
UPDATED = Answer(body={"datastoreId": DS, "imageSetId": IS, "latestVersionId": "6", "imageSetState": "LOCKED",
                       "imageSetWorkflowStatus": "UPDATING"})


def slow_answers(api: Any, clock: Any, seconds: float) -> None:
    """Every answer arrives SECONDS after the request was sent."""

    def late(**_: Any) -> None:
        clock.now += seconds

    api.client.meta.events.register("after-call.medical-imaging", late)


def test_the_next_update_is_spaced_from_the_previous_answer() -> None:
    api, transport, clock = make_api([UPDATED, UPDATED])
    slow_answers(api, clock, 1.0)
    api.update_image_set_metadata(DS, IS, "5", updatable=b"{}")
    api.update_image_set_metadata(DS, IS, "5", updatable=b"{}")
    assert len(transport.requests) == 2
    # the first answer came at 1.0: the second request goes one interval later, not 4 s after the first send
    assert clock.sleeps == [pytest.approx(INTERVAL)]
    assert clock.now == pytest.approx(1.0 + INTERVAL + 1.0)


def test_a_throttled_update_is_retried_at_a_lower_rate() -> None:
    api, transport, clock = make_api([error("ThrottlingException", 429), UPDATED])
    api.update_image_set_metadata(DS, IS, "5", updatable=b"{}")
    assert [r[0] for r in transport.requests] == ["UpdateImageSetMetadata"] * 2
    backoff, paced = clock.sleeps  # the retry's backoff (0.5 s), then the rest of the slower interval
    assert backoff == 0.5
    assert backoff + paced == pytest.approx((1 + MARGIN) / (0.25 * DECREASE) + SLACK)
    assert api.limiter.rate("UpdateImageSetMetadata") == pytest.approx(0.25 * DECREASE + 0.25 * INCREASE)


def test_a_throttled_read_lowers_its_rate_until_answers_bring_it_back() -> None:
    ok = Answer(body=image_set())
    api, _, _ = make_api([error("ThrottlingException", 429), ok, *[ok] * 30])
    api.get_image_set(DS, IS)
    assert 25.0 * DECREASE < (api.limiter.rate("GetImageSet") or 0) < 25.0
    for _ in range(30):
        api.get_image_set(DS, IS)
    assert api.limiter.rate("GetImageSet") == 25.0
    assert api.limiter.rate("GetImageSetMetadata") == 50.0  # other operations were never slowed
