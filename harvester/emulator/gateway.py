"""The API gateway in front of the emulated services.

Each request passes the same steps a real APIG applies, in this order:
route (404 APIG.0101), bucket (429 APIG.0308, counted before anything
else), faults, token (401 APIG.0301 / 0307), app code (401 APIG.0303),
then the service, whose own refusals are 400 or 404 service errors.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from harvester.catalog import (
    ENDPOINTS,
    IAM_TOKEN,
    SDR_CREATE_JOB,
    SDR_JOB_DATA,
    SDR_JOB_STATUS,
    Paging,
)
from harvester.emulator import faults
from harvester.emulator.data import site_series
from harvester.emulator.errors import ServiceError, gateway_error, service_error
from harvester.emulator.faults import FaultDice
from harvester.emulator.iam import issue_token
from harvester.emulator.jobs import SdrJobs
from harvester.emulator.latency import Latency
from harvester.emulator.records import Records
from harvester.emulator.routing import Match, RouteTable
from harvester.emulator.settings import EmulatorSettings
from harvester.emulator.throttle import Bucket, build_buckets
from harvester.emulator.tokens import TokenState, TokenStore, app_code_ok

logger = logging.getLogger(__name__)

Handler = Callable[[web.Request, Match], Awaitable[web.Response]]

_UNKNOWN_API = "The API does not exist or has not been published in the environment"


class Gateway:
    """Routes, throttles, authenticates and dispatches every API request."""

    def __init__(self, settings: EmulatorSettings) -> None:
        self.settings = settings
        self.plan = settings.fault_plan
        self.routes = RouteTable(ENDPOINTS)
        self.buckets = build_buckets(ENDPOINTS, settings.limits)
        life = faults.EXPIRED_TOKEN_TTL_S if "expire-tokens" in self.plan else None
        self.tokens = TokenStore(settings.token_ttl_s, settings.clock, life_s=life)
        self.dice = FaultDice(settings.seed)
        self.latency = Latency(settings.latency, settings.seed)
        self.handlers = self._handlers(settings)

    def _handlers(self, settings: EmulatorSettings) -> dict[str, Handler]:
        series = site_series(settings.seed, settings.scale)
        records = Records(settings, series, self.plan)
        jobs = SdrJobs(settings, series[SDR_JOB_DATA.name], self.plan)
        handlers: dict[str, Handler] = {
            endpoint.name: records.handle
            for endpoint in ENDPOINTS
            if endpoint.paging in (Paging.OFFSET, Paging.NONE)
            and endpoint is not IAM_TOKEN
        }
        handlers[SDR_CREATE_JOB.name] = jobs.create
        handlers[SDR_JOB_STATUS.name] = jobs.status
        handlers[SDR_JOB_DATA.name] = jobs.data
        return handlers

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """Answer one API request (aiohttp handler)."""
        match = self.routes.match(request.method, request.path)
        if match is None:
            return gateway_error(404, "APIG.0101", _UNKNOWN_API)

        arrived = time.monotonic()
        bucket = self.buckets[match.endpoint.bucket]
        if not bucket.arrive(arrived):
            logger.debug("throttled %s %s", request.method, request.path)
            return gateway_error(429, "APIG.0308", bucket.message())
        if match.endpoint is IAM_TOKEN:
            response = await issue_token(request, self.tokens, self.settings.password)
        else:
            response = await self._data_call(request, match, bucket)
        # The model sets the whole time in the site, the work above included.
        if self.latency:
            await self.latency.hold(bucket.name, arrived)
        return response

    async def _data_call(
        self, request: web.Request, match: Match, bucket: Bucket
    ) -> web.StreamResponse:
        call = self.dice.next_call()
        refusal = await self._gateway_faults(request, call, bucket)
        if refusal is None:
            refusal = self._authenticate(request)
        if refusal is not None:
            return refusal

        try:
            response = await self.handlers[match.endpoint.name](request, match)
        except ServiceError as error:
            return service_error(error)
        if response.status == 200 and self._truncates(call):
            return await faults.truncate(request, response, self.dice.roll(call, "cut"))
        return response

    def _truncates(self, call: int) -> bool:
        if "truncated" not in self.plan:
            return False
        return self.dice.hits(call, "truncated", faults.TRUNCATE_RATE)

    async def _gateway_faults(
        self, request: web.Request, call: int, bucket: Bucket
    ) -> web.Response | None:
        plan, dice = self.plan, self.dice
        if not plan.names:
            return None
        if "slow" in plan:
            spread = faults.SLOW_MAX_S - faults.SLOW_MIN_S
            await asyncio.sleep(faults.SLOW_MIN_S + spread * dice.roll(call, "slow"))
        if "drop" in plan and dice.hits(call, "drop", faults.DROP_RATE):
            return faults.drop(request)
        if "throttle-storm" in plan and dice.hits(
            call, "throttle-storm", faults.STORM_RATE
        ):
            bucket.refuse()
            return gateway_error(429, "APIG.0308", bucket.message())
        if "flaky" in plan and dice.hits(call, "flaky", faults.FLAKY_RATE):
            return faults.flaky_response(dice.roll(call, "flaky-status"))
        return None

    def _authenticate(self, request: web.Request) -> web.Response | None:
        headers = request.headers
        state = self.tokens.state(headers.get("X-Auth-Token"))
        if state is TokenState.UNKNOWN:
            return gateway_error(
                401, "APIG.0301", "Incorrect IAM authentication information"
            )
        if state is TokenState.EXPIRED:
            return gateway_error(401, "APIG.0307", "The token must be updated")
        if not app_code_ok(headers, self.settings.app_code):
            return gateway_error(
                401, "APIG.0303", "Incorrect app authentication information"
            )
        if "forbidden" in self.plan:
            return gateway_error(
                403, "APIG.0302", "The IAM user is not authorized to access the API"
            )
        return None

    def stats(self) -> dict[str, Any]:
        """Every bucket's counters."""
        return {
            "buckets": {
                name: bucket.snapshot() for name, bucket in self.buckets.items()
            }
        }
