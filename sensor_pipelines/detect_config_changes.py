"""``python -m sensor_pipelines.detect_config_changes [--target-branch main]`` (reference name).

The same as ``sensor-pipelines detect-changes``; see sensor_pipelines.fleet.changes for what counts.
"""

import sys

from sensor_pipelines.cli import main

if __name__ == "__main__":
    sys.exit(main(["detect-changes", *sys.argv[1:]]))
