"""pagerduty raw ingestion: Dagster assets over plain ingestion functions."""
