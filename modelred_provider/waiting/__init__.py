"""The waiting policy: the one rule for every wait on an assessment, free of Airflow and of I/O.

It sets the pauses, the retry budget, the deadline and how a wait ends; the hook drives it in process
and the trigger deferred.
"""
