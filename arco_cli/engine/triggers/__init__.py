"""Schedules, sensors and backfills: the pure parts (cron, plans, evaluator results)."""
