"""Demo data for Partnerplan (``manage.py seed_demo``).

Two parts, both under the demo vendor “Acme Cloud”:

- The **showcase** (``showcase``): a consulting house and a solution provider, each with people on
  both sides, a written vision, mutual objectives, goals in every state of the workflow, check-ins
  over several months, comments and reviews past and upcoming. It is built only through the
  domain services, so every rule holds and every change has its change event, exactly as if
  people had clicked it. Dates are relative to today: goals that are over ran in past periods and
  check-ins are backdated.
- **Volume** data for benchmarks (``volume``): many partnerships, goals and check-ins written with
  ``bulk_create`` in a few big transactions, with one ``create`` change event per object. It writes
  the rows the services would have left behind (agreed goals carry both sides' approvals of their
  agreed revision and commitments from both sides).

Objects get deterministic ids (uuid5), so the builders see what exists already: running the seed
again adds nothing that is there (volume partnerships that are missing are built, the rest is
left alone). Concurrent seeds wait for each other.
"""

from .common import ADMIN_EMAIL, DEMO_PASSWORD, VENDOR_NAME, VOLUME_MANAGER_EMAIL, Login, remove_demo
from .showcase import BRIGHTLINE_ID, NORTHWIND_ID, SHOWCASE_IDS, build_showcase, showcase_exists, showcase_logins
from .volume import VolumeRequest, build_volume, volume_logins, volume_partner_email, volume_partnership_id

__all__ = [
    "ADMIN_EMAIL",
    "BRIGHTLINE_ID",
    "DEMO_PASSWORD",
    "NORTHWIND_ID",
    "SHOWCASE_IDS",
    "VENDOR_NAME",
    "VOLUME_MANAGER_EMAIL",
    "Login",
    "VolumeRequest",
    "build_showcase",
    "build_volume",
    "remove_demo",
    "showcase_exists",
    "showcase_logins",
    "volume_logins",
    "volume_partner_email",
    "volume_partnership_id",
]
