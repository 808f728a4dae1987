"""The production settings, with one change for measuring: the per-user API throttle is raised.

The benchmark drives the API with one vendor admin's token at hundreds of requests per second;
production's 1,200 requests a minute per user would answer most of them 429 and the table would
measure the throttle. The throttle still runs on every request (its bookkeeping in Redis is part
of what is measured); only its limit is out of reach.
"""

from partnerplan.settings.production import *  # noqa: F403

API_THROTTLE_RATES = {"user": "10000000/minute"}
