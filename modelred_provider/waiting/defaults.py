"""How long and how much a wait tolerates, by default: plain numbers the operator, sensor, trigger and
hook name in their signatures (so no imports: the DAG processor loads this for every DAG file)."""

from __future__ import annotations

#: Transient polling failures tolerated in a row (the operator's, sensor's and trigger's default).
DEFAULT_RETRY_BUDGET = 8

#: The longest single pause of a wait, a server's ``Retry-After`` included (seconds); the connection
#: extra ``poll_max_wait`` lowers it. A 429 asking for a day must not park a trigger for a day.
DEFAULT_POLL_MAX_WAIT = 900.0

#: The default ``timeout`` of the operator and the sensor: 6 hours. A stuck assessment must not hold the
#: gate (or a worker or triggerer slot) forever, and a red-team run is long: ModelRed's own SDK waits
#: 60 minutes by default, and running the whole probe catalogue one probe after another takes about
#: half an hour by the catalogue's ``estimated_time`` figures (1,785 s for the 34 probes the emulator
#: serves); a queue behind "Maximum concurrent assessments reached" or a low priority adds to it. Six
#: hours is several times the longest of these and still ends a stuck assessment the same working day.
DEFAULT_ASSESSMENT_TIMEOUT = 6 * 60 * 60.0
