"""python -m sensor_pipelines"""

from sensor_pipelines.cli import run

run()
