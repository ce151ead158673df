"""GitHub through PyGithub: pull requests of the repositories that bindings name."""
