"""The project's component versions as the component files declare them: tests compare with these, so a
version bump needs no test edit."""

from sensor_pipelines.pipelines.catalog import components

VERSION = {c.name: str(c.version) for c in components()}
