"""The waiting policy: the one rule for every wait on an assessment (pauses, retry budget, deadline, how
a wait ends), free of Airflow and of I/O; the hook drives it in process and the trigger deferred."""
