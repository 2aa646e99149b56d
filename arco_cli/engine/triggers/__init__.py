"""Automation: schedules, sensors and backfills on the one run-key model (data-model §7).

Pure rules live in ``cron``, ``backfill_plan`` and ``sensors``; the controllers
(``schedules``, ``sensor_controller``, ``backfills``) append through ``bridge``.
"""
