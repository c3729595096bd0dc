"""Glue for CI systems, built on mlvet's SARIF output (see ``docs/github-action.md``, ``docs/gitlab-ci.md``)."""
