"""httsleep-airflow: wait on HTTP job APIs.

The engine (this package's top level) polls an endpoint until a response meets declarative
``until`` conditions and raises ``Alarm`` at once when one meets an alarm. The Airflow provider
lives in ``httsleep_airflow.hooks``, ``.sensors`` and ``.triggers``; importing this package does
not import Airflow.
"""

from httsleep_airflow import exceptions
from httsleep_airflow._http import (
    BodyDropped,
    HeaderTooLarge,
    RedirectRefused,
    RequestDeadlineExceeded,
)
from httsleep_airflow._sync import HttSleeper, httsleep
from httsleep_airflow.exceptions import Alarm, MaxRetriesExceeded

__all__ = [
    "Alarm",
    "BodyDropped",
    "HeaderTooLarge",
    "HttSleeper",
    "MaxRetriesExceeded",
    "RedirectRefused",
    "RequestDeadlineExceeded",
    "__version__",
    "exceptions",
    "httsleep",
]

__version__ = "0.1.0"
