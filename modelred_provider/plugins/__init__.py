"""The ModelRed pages inside Airflow's UI (an Airflow plugin served by the api-server).

``modelred_ui`` holds the plugin class that Airflow loads through the ``airflow.plugins`` entry point;
it imports nothing beyond Airflow's plugin base. The web app (``_app``), its queries (``_store``) and
its HTML and SVG (``_render``) are imported by the api-server on the first request to the pages.
"""
