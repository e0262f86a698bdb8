"""Extra links from a task to ModelRed."""
