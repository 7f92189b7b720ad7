"""python -m sensor_pipelines"""

import sys

from sensor_pipelines.cli import main

sys.exit(main())
