"""``okr-hub``: the operators' and automation's command line (typer + rich).

It reads the same ``OKR_*`` settings as the services, so a command run next to a deployment acts
on that deployment's database and data directory.
"""
