"""Apache Airflow provider for ModelRed (LLM red-team assessments)."""

__version__ = "0.1.0"
