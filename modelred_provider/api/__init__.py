"""What we know of the ModelRed REST API, free of Airflow: endpoints, payload models, errors, retry rules."""
